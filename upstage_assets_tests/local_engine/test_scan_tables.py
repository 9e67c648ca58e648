"""Ruled tables on scans (issue 18): the rules are found on the page image, cells come from
the same grid logic as born-digital pages, and OCR words are placed in the cells.

The scans are drawn with PIL (a grid with merged cells, lines two pixels thick, text in
DejaVu Sans at about 150 DPI), then turned a little the way a sheet sits on a scanner.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from upstage_assets.local_engine.document_parse import parse_document
from upstage_assets.local_engine.image_rules import image_rule_boxes
from upstage_assets_tests.local_engine.samples import FONT_DIR
from upstage_assets_tests.local_engine.test_ruled_tables import EXPECTED_HTML

PIXELS_PER_MM = 150 / 25.4
XS, YS = [20, 60, 100, 140, 180], [40, 50, 60, 70, 80]
CELLS = [  # (row, col, rowspan, colspan, text): the grid of test_ruled_tables' PDFs
    (0, 0, 2, 1, "Region"), (0, 1, 1, 2, "Sales"), (0, 3, 2, 1, "Staff"),
    (1, 1, 1, 1, "2023"), (1, 2, 1, 1, "2024"),
    (2, 0, 1, 1, "North"), (2, 1, 1, 1, "110"), (2, 2, 1, 1, "125"), (2, 3, 1, 1, "14"),
    (3, 0, 1, 3, "Total 235"), (3, 3, 1, 1, "29"),
]


def _scan(*, degrees: float = 0.0) -> Image.Image:
    """A page with the merged-cell grid drawn as one rectangle per cell and a sentence below it."""
    scale = PIXELS_PER_MM
    image = Image.new("RGB", (int(210 * scale), int(150 * scale)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(f"{FONT_DIR}/DejaVuSans.ttf", int(3.6 * scale))
    for row, col, rowspan, colspan, text in CELLS:
        x0, y0, x1, y1 = (v * scale for v in (XS[col], YS[row], XS[col + colspan], YS[row + rowspan]))
        draw.rectangle([x0, y0, x1, y1], outline="black", width=2)
        draw.text(((x0 + x1) / 2, (y0 + y1) / 2), text, fill="black", font=font, anchor="mm")
    draw.text((20 * scale, 95 * scale), "The table above lists sales by region for two years.", fill="black",
              font=font)
    if degrees:
        image = image.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor="white")
    return image


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_rules_are_found_on_the_image_and_text_is_not_a_rule() -> None:
    boxes = image_rule_boxes(np.array(_scan().convert("L")))
    horizontal = sorted({round(b.y0 / PIXELS_PER_MM) for b in boxes if b.width > b.height})
    vertical = sorted({round(b.x0 / PIXELS_PER_MM) for b in boxes if b.height > b.width})
    assert horizontal == YS, "one rule per drawn row line, none from the text (the sentence at 95 mm)"
    assert vertical == XS


def test_blank_and_text_only_pages_have_no_rules() -> None:
    assert image_rule_boxes(np.full((600, 800), 255, dtype=np.uint8)) == []
    text_only = Image.new("L", (1200, 400), 255)
    draw = ImageDraw.Draw(text_only)
    font = ImageFont.truetype(f"{FONT_DIR}/DejaVuSans.ttf", 28)
    for line in range(6):
        draw.text((40, 30 + 55 * line), "Lorem ipsum dolor sit amet, consectetuer adipiscing elit. " * 2,
                  fill=0, font=font)
    assert image_rule_boxes(np.array(text_only)) == []


@pytest.mark.slow
@pytest.mark.parametrize("degrees", [0.0, 1.0, -1.5])
def test_scanned_ruled_table_with_merged_cells_gives_rowspan_and_colspan(degrees: float) -> None:
    response = parse_document(_png(_scan(degrees=degrees)), mime_type="image/png")
    tables = [e for e in response["elements"] if e["category"] == "table"]
    assert len(tables) == 1
    assert EXPECTED_HTML in tables[0]["content"]["html"]
    assert "region for two years" in response["content"]["markdown"].split("| Total 235 |")[-1]
