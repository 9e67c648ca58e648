"""OCR of rendered and scan-like images: words split, pixel boxes, OCR response shape."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from upstage_assets.local_engine import ocr
from upstage_assets.local_engine.document_parse import ocr_document, parse_document
from upstage_assets.local_engine.preprocess import to_bgr


@pytest.fixture(scope="module")
def png_words(invoice_png: bytes) -> list[ocr.OcrWord]:
    image = to_bgr(np.array(Image.open(io.BytesIO(invoice_png)).convert("RGB")))
    return ocr.ocr_images([image])[0]


def test_engine_is_built_once() -> None:
    assert ocr.get_engine() is ocr.get_engine()


def test_rendered_invoice_words_are_split_and_boxed_in_pixels(png_words: list[ocr.OcrWord]) -> None:
    texts = [w.text for w in png_words]
    # The recogniser glues English words ("NorthwindTradersLtd"); they come back apart.
    for expected in ("INVOICE", "Northwind", "Traders", "Ltd", "Harbour", "Road", "2024-0113", "TOTAL", "9.00"):
        assert expected in texts, f"{expected!r} not in {texts}"
    by_text = {w.text: w for w in png_words}
    total, amount = by_text["TOTAL"].box(), by_text["9.00"].box()
    # 150 DPI rendering of an A4 page: x in mm * 150 / 25.4 pixels.
    assert total.x0 == pytest.approx(20 * 150 / 25.4, abs=12)
    assert amount.x0 == pytest.approx(170 * 150 / 25.4, abs=12)
    assert abs(total.y_center - amount.y_center) < 10
    northwind, traders = by_text["Northwind"].box(), by_text["Traders"].box()
    assert northwind.x1 < traders.x0 < northwind.x1 + 40  # split at the space, in order
    for word in png_words:
        assert 0 <= word.confidence <= 1


@pytest.fixture(scope="module")
def ocr_response(invoice_png: bytes) -> dict[str, Any]:
    return ocr_document(invoice_png, mime_type="image/png")


def test_ocr_document_response_shape(ocr_response: dict[str, Any]) -> None:
    r = ocr_response
    assert r["apiVersion"] == "1.1" and r["modelVersion"] == "ocr-local" and r["numBilledPages"] == 1
    assert r["metadata"]["pages"] == [{"height": 1754, "page": 1, "width": 1241}]
    page = r["pages"][0]
    assert page["id"] == 0 and (page["width"], page["height"]) == (1241, 1754)
    assert [w["id"] for w in page["words"]] == list(range(len(page["words"])))
    assert "TOTAL  9.00" in page["text"].splitlines()
    assert r["text"] == page["text"]
    for word in page["words"]:
        vertices = word["boundingBox"]["vertices"]
        assert len(vertices) == 4 and all(isinstance(v["x"], int) and isinstance(v["y"], int) for v in vertices)
        assert all(0 <= v["x"] <= 1241 and 0 <= v["y"] <= 1754 for v in vertices)
        tl, tr, br, bl = vertices
        assert tl["x"] < tr["x"] and bl["y"] > tl["y"]
    assert 0.5 < r["confidence"] <= 1.0


@pytest.mark.slow
def test_scan_like_image_parses_into_elements(scanned_invoice_jpeg: bytes) -> None:
    response = parse_document(scanned_invoice_jpeg, mime_type="image/jpeg")
    texts = [e["content"]["text"] for e in response["elements"]]
    joined = "\n".join(texts)
    assert "INVOICE" in joined and "2024-0113" in joined and "Harbour" in joined
    assert any(t.startswith("TOTAL") and t.endswith("9.00") for t in joined.splitlines())
    assert response["usage"] == {"pages": 1}
    for element in response["elements"]:
        assert all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 for p in element["coordinates"])
