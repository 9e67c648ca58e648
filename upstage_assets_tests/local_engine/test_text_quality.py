"""Text a retrieval user would accept (issue 18): ligatures, hyphenation, right-to-left
scripts, sideways and rotated pages, running headers and footers out of the Markdown."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest

from upstage_assets.local_engine.bidi import logical_word_order, visual_to_logical
from upstage_assets.local_engine.document_parse import parse_document
from upstage_assets_tests.local_engine import samples


def _parse(data: bytes) -> dict:
    return parse_document(data, mime_type="application/pdf")


def _texts(response: dict) -> list[str]:
    return [e["content"]["text"] for e in response["elements"]]


def _one_page(*lines: tuple[float, float, str], size: int = 12) -> bytes:
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", size)
    for x, y, text in lines:
        pdf.set_xy(x, y)
        pdf.cell(0, 8, text)
    return bytes(pdf.output())


def test_ligature_code_points_are_expanded() -> None:
    data = _one_page((20, 20, "We \ufb01nd \ufb02oating o\ufb03ces"))
    assert "We find floating offices" in _texts(_parse(data))


def test_word_hyphenated_at_line_end_is_joined() -> None:
    data = _one_page((20, 30, "The engine must be able to com-"), (20, 36, "pile the code quickly."))
    markdown = _parse(data)["content"]["markdown"]
    assert "compile" in markdown
    assert "com-" not in markdown and "com\n" not in markdown


def test_right_to_left_words_in_logical_order_without_spaces_between_letters() -> None:
    # fpdf2 draws each string left to right: the visual order of Hebrew "\u05e2\u05d5\u05dc\u05dd" / Arabic "\u062d\u0628\u064a\u0628\u064a".
    data = _one_page((20, 50, "\u05dd\u05dc\u05d5\u05e2"), (20, 60, "\u064a\u0628\u064a\u0628\u062d"))
    texts = _texts(_parse(data))
    assert "\u05e2\u05d5\u05dc\u05dd" in texts
    assert "\u062d\u0628\u064a\u0628\u064a" in texts


def test_bidi_helpers_keep_numbers_and_latin_runs_in_their_order() -> None:
    assert visual_to_logical("\u064a\u0628\u064a\u0628\u064e\u062d") == "\u062d\u064e\u0628\u064a\u0628\u064a"
    assert visual_to_logical("12\u05d0\u05d1") == "\u05d1\u05d012"
    assert logical_word_order(["ACME", "Ltd", "\u05e9\u05dc\u05d5\u05dd", "\u05e2\u05d5\u05dc\u05dd"]) == [
        "\u05e2\u05d5\u05dc\u05dd", "\u05e9\u05dc\u05d5\u05dd", "ACME", "Ltd"]
    assert logical_word_order(["plain", "words"]) == ["plain", "words"]


def test_sideways_line_on_an_upright_page_reads_as_one_line() -> None:
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 12)
    pdf.set_xy(20, 20)
    pdf.cell(0, 8, "An upright paragraph of ordinary running text on this page.")
    with pdf.rotation(90, x=100, y=200):
        pdf.text(100, 200, "Sideways words here")
    texts = _texts(_parse(bytes(pdf.output())))
    assert "Sideways words here" in texts


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_page_turned_by_rotate_is_read_along_its_text(rotate: int) -> None:
    """Text drawn upright on a sheet whose /Rotate turns it sideways (one char per line before)."""
    data = _one_page((20, 20, "Hello world from a turned page"), (20, 30, "Second line here"), size=14)
    doc = pdfium.PdfDocument(data)
    doc[0].set_rotation(rotate)
    buffer = io.BytesIO()
    doc.save(buffer)
    doc.close()
    response = _parse(buffer.getvalue())
    markdown = response["content"]["markdown"]
    assert "Hello world from a turned page" in markdown
    assert markdown.index("Hello world") < markdown.index("Second line here")


def test_running_header_and_page_numbers_are_elements_left_out_of_markdown(report_pdf: bytes) -> None:
    response = _parse(report_pdf)
    categories = {e["content"]["text"]: e["category"] for e in response["elements"]}
    assert categories["ACME Holdings - Quarterly Report"] == "header"
    assert categories["Page 1 of 2"] == "footer"
    markdown = response["content"]["markdown"]
    assert "ACME Holdings" not in markdown and "Page 1 of 2" not in markdown
    assert "Annual Summary" in markdown
    assert "ACME Holdings" in response["content"]["html"]  # still there, tagged <header>
    kept = parse_document(report_pdf, mime_type="application/pdf", headers_footers_in_markdown=True)
    assert "ACME Holdings" in kept["content"]["markdown"]


def test_single_page_footer_with_page_x_of_y_is_a_footer() -> None:
    data = _one_page((20, 30, "Invoice body text that says what was bought."),
                     (20, 285, "Facture 2022089083 - Page 1/1"), size=10)
    response = _parse(data)
    footer = [e for e in response["elements"] if e["category"] == "footer"]
    assert [e["content"]["text"] for e in footer] == ["Facture 2022089083 - Page 1/1"]
    assert "Page 1/1" not in response["content"]["markdown"]


def test_columns_with_a_gutter_narrower_than_a_line_are_read_one_after_the_other() -> None:
    """LaTeX's two-column gap is 10 pt: less than a line height, once merged across the gutter."""
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.set_xy(20, 20)
    pdf.cell(170, 10, "A Title Over Both Columns", align="C")
    pdf.set_font("DejaVu", "", 10)
    pdf.set_xy(20, 40)
    pdf.multi_cell(83, 5, samples.LOREM_LEFT * 2, align="J")
    pdf.set_xy(106.5, 40)  # a 3.5 mm (10 pt) gutter
    pdf.multi_cell(83, 5, samples.LOREM_RIGHT * 2, align="J")
    response = _parse(bytes(pdf.output()))
    texts = _texts(response)
    assert not any("Revenue" in t and "Risks" in t for t in texts)
    markdown = " ".join(response["content"]["markdown"].split())
    assert markdown.index("A Title Over Both Columns") < markdown.index("Revenue grew")
    assert markdown.index("Risks remain") > markdown.rindex("after the warehouse move")


def _pdf_with_control_code_text() -> bytes:
    """A page whose font maps its glyphs to control codes (no usable ToUnicode): garbage text."""
    text = bytes(range(1, 9)) * 10
    stream = b"BT /F1 12 Tf 50 700 Td (" + text.replace(b"\\", b"\\\\") + b") Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


def test_garbled_text_layer_is_not_used() -> None:
    """Such a page is read like a scan (OCR) instead of emitting control-code garbage."""
    from upstage_assets.local_engine import pdf_text

    with pdf_text.open_pdf(_pdf_with_control_code_text()) as pdf:
        page = pdf_text.page_content(pdf, 0)
    assert not pdf_text.has_text_layer(page)


def test_pages_holding_only_the_same_short_text_keep_it_as_body() -> None:
    """A running header needs a body to run over: when every page holds only the same line at
    its top (one short page copied, or turned by /Rotate, several times), that line is the body."""
    pdf = samples._pdf()
    for _ in range(3):
        pdf.add_page()
        pdf.set_font("DejaVu", "", 12)
        pdf.set_xy(20, 12)
        pdf.cell(0, 8, "Greetings from the only line")
    response = _parse(bytes(pdf.output()))
    assert response["content"]["markdown"].count("Greetings from the only line") == 3
    assert {e["category"] for e in response["elements"]} == {"paragraph"}
