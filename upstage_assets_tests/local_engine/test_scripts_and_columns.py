"""Two defects of issue 18 without a test before: a three-column page read column by column
(not interleaved, no lines merged across the gutters), and a scan in a script no bundled
model reads reported as ``unsupported_script`` instead of garbage letters.

The Hebrew scan is drawn with PIL in DejaVu Sans (it has Hebrew; no font here has Thai or
Devanagari glyphs, so those scripts are not drawn).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw, ImageFont

from upstage_assets.local_engine.document_parse import ocr_document, parse_document
from upstage_assets.local_engine.scripts import UNREADABLE, is_unreadable, without_unreadable
from upstage_assets_tests.local_engine import samples

COLUMNS = (
    "Alpha column opens here. The first column talks about apples and pears grown in the valley "
    "and about the orchards that line the river banks. Alpha column ends here.",
    "Beta column opens here. The second column talks about the weather over the hills this spring "
    "and the rain that came late in the season. Beta column ends here.",
    "Gamma column opens here. The third column talks about the market prices for fruit and the "
    "trucks that carry the harvest to the city. Gamma column ends here.",
)


def test_three_columns_under_a_full_width_title_are_read_one_after_the_other() -> None:
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.set_xy(20, 20)
    pdf.cell(170, 10, "A Title Over Three Columns", align="C")
    pdf.set_font("DejaVu", "", 9)
    for index, text in enumerate(COLUMNS):
        pdf.set_xy(20 + index * 58, 40)  # 54 mm columns, 4 mm gutters
        pdf.multi_cell(54, 4.5, text, align="J")
    response = parse_document(bytes(pdf.output()), mime_type="application/pdf")
    markdown = " ".join(response["content"]["markdown"].split())
    order = [markdown.index(marker) for marker in (
        "A Title Over Three Columns", "Alpha column opens", "Alpha column ends", "Beta column opens",
        "Beta column ends", "Gamma column opens", "Gamma column ends")]
    assert order == sorted(order)
    for element in response["elements"]:
        text = element["content"]["text"]
        assert sum(name in text for name in ("apples", "weather", "market")) <= 1, "merged across a gutter"


def _hebrew_scan() -> bytes:
    font = ImageFont.truetype(f"{samples.FONT_DIR}/DejaVuSans.ttf", 30)
    image = Image.new("RGB", (1240, 900), "white")
    draw = ImageDraw.Draw(image)
    draw.text((80, 60), "Quarterly report 2024", font=font, fill="black")
    for index, line in enumerate(("\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd, \u05d6\u05d4\u05d5 "
                                  "\u05de\u05e1\u05de\u05da \u05dc\u05d3\u05d5\u05d2\u05de\u05d4 "
                                  "\u05d1\u05e2\u05d1\u05e8\u05d9\u05ea",
                                  "\u05d4\u05d3\u05d5\u05d7 \u05d4\u05e8\u05d1\u05e2\u05d5\u05e0\u05d9 "
                                  "\u05de\u05e6\u05d9\u05d2 \u05d0\u05ea \u05d4\u05de\u05db\u05d9\u05e8\u05d5\u05ea "
                                  "\u05dc\u05e4\u05d9 \u05d0\u05d6\u05d5\u05e8")):
        draw.text((80, 160 + 50 * index), line, font=font, fill="black")
    draw.text((80, 400), "The totals above are in thousands of euros.", font=font, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_scan_in_an_unreadable_script_is_reported_not_garbled() -> None:
    data = _hebrew_scan()
    response = parse_document(data, mime_type="image/png")
    flagged = [e for e in response["elements"] if e.get("unsupported_script")]
    assert flagged, "the Hebrew lines are reported as unsupported_script"
    assert all(UNREADABLE not in e["content"]["text"] for e in response["elements"])
    markdown = response["content"]["markdown"]
    assert markdown.split() == "Quarterly report 2024 The totals above are in thousands of euros.".split(), \
        "the English lines stay, and no guessed letters stand for the Hebrew ones"
    ocr = ocr_document(data, mime_type="image/png")
    assert [w["text"] for w in ocr["pages"][0]["words"]] == markdown.split()


def test_a_line_is_unreadable_when_unsure_thin_and_guessed() -> None:
    # A Hebrew line as PP-OCR reads it: 5 letters over a crop 15 line heights long, half guessed.
    assert is_unreadable("n a n , D", [0.48, 0.9, 0.42, 0.9, 0.42, 0.9, 0.93, 0.9, 0.34, 0.9], 600, 40)
    assert is_unreadable("", [], 600, 40), "nothing read on a long line of ink"
    # Latin read unsurely is still read: enough characters for its length.
    assert not is_unreadable("1e rrbnr pausdamned", [0.4, 0.6] * 9 + [0.4], 400, 40)
    # A spaced-out separator read confidently, and a short crop (a digit, a mark), are left alone.
    assert not is_unreadable("**SS**", [0.77] * 6, 760, 40)
    assert not is_unreadable("q", [0.42], 47, 40)


def test_markers_are_taken_out_of_text_and_cells() -> None:
    assert without_unreadable(["Total  9.00", "x"]) == (["Total  9.00", "x"], False)
    assert without_unreadable([f"Price {UNREADABLE} {UNREADABLE} 12", UNREADABLE]) == (["Price 12", ""], True)
