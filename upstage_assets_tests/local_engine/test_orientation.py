"""Scans fed in sideways or upside down are turned upright before reading (issue 18)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from upstage_assets.local_engine.document_parse import parse_document
from upstage_assets.local_engine.ocr import OcrWord
from upstage_assets.local_engine.orientation import is_sideways, turn_upright


def _word(text: str, x0: float, y0: float, x1: float, y1: float) -> OcrWord:
    return OcrWord(text, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), 0.9)


def test_tall_narrow_lines_mean_a_sideways_page() -> None:
    upright = [_word("INVOICE NUMBER", 10, 10, 200, 30), _word("TOTAL DUE", 10, 40, 150, 60)]
    sideways = [_word("INVOICE NUMBER", 10, 10, 30, 200), _word("TOTAL DUE", 40, 10, 60, 150)]
    assert not is_sideways(upright)
    assert is_sideways(sideways)


def test_turn_upright_is_clockwise() -> None:
    import numpy as np

    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[0, 0] = 255  # top-left
    turned = turn_upright(image, 90)
    assert turned.shape[:2] == (3, 2)
    assert turned[0, 1, 0] == 255  # top-left goes to top-right when turned clockwise


@pytest.mark.slow
@pytest.mark.parametrize("angle", [90, 180, 270])
def test_rotated_scan_reads_like_the_upright_one(invoice_png: bytes, angle: int) -> None:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(invoice_png)).rotate(angle, expand=True).save(buffer, format="PNG")
    markdown = " ".join(parse_document(buffer.getvalue(), mime_type="image/png")["content"]["markdown"].split())
    assert "INVOICE" in markdown
    assert "Northwind Traders" in markdown
    assert markdown.index("INVOICE") < markdown.index("TOTAL")
