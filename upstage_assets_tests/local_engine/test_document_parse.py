"""The Document Parse response: shape, options, OCR routing and errors."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from upstage_assets.errors import CorruptDocument
from upstage_assets.local_engine import page_sources
from upstage_assets.local_engine.document_parse import ocr_document, parse_document
from upstage_assets_tests.local_engine import samples


def test_response_shape(invoice_pdf: bytes) -> None:
    r = parse_document(invoice_pdf, mime_type="application/pdf")
    assert set(r) == {"api", "model", "content", "elements", "usage"}
    assert (r["api"], r["model"], r["usage"]) == ("2.0", "document-parse-local", {"pages": 1})
    assert r["content"]["text"].startswith("INVOICE\n")
    assert r["content"]["html"].startswith("<h1 id='0' style='font-size:22px'>INVOICE</h1>\n")
    assert r["content"]["markdown"].startswith("# INVOICE\n\n")
    for element in r["elements"]:
        assert set(element) == {"id", "category", "page", "content", "coordinates"}
        assert f"id='{element['id']}'" in element["content"]["html"]


def test_formats_coordinates_and_base64_options(report_pdf: bytes) -> None:
    r = parse_document(report_pdf, mime_type="application/pdf", output_formats=("markdown",),
                       coordinates=False, base64_encoding=("table",))
    assert r["content"]["html"] == "" and r["content"]["text"] == "" and r["content"]["markdown"]
    assert all("coordinates" not in e for e in r["elements"])
    tables = [e for e in r["elements"] if e["category"] == "table"]
    assert len(tables) == 1 and all("base64_encoding" not in e for e in r["elements"] if e["category"] != "table")
    crop = Image.open(io.BytesIO(base64.b64decode(tables[0]["base64_encoding"])))
    assert crop.width > 3 * crop.height > 0  # a wide, short crop of the table
    assert all(e["content"]["html"] == "" and e["content"]["text"] == "" for e in r["elements"])


def test_ocr_auto_uses_text_layer_and_never_runs_ocr(report_pdf: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_ocr(*args: object, **kwargs: object) -> None:
        raise AssertionError("OCR must not run on a born-digital page")

    monkeypatch.setattr(page_sources, "ocr_images", no_ocr)
    r = parse_document(report_pdf, mime_type="application/pdf", ocr="auto")
    assert r["usage"]["pages"] == 2


@pytest.mark.slow
def test_scanned_pdf_pages_are_ocred_once_and_force_ocrs_text_pages(invoice_png: bytes, invoice_pdf: bytes,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = page_sources.ocr_images

    def counting(images: list, device: str | None = None) -> list:
        calls.append(len(images))
        return real(images, device)

    monkeypatch.setattr(page_sources, "ocr_images", counting)
    scanned = parse_document(samples.image_only_pdf(invoice_png), mime_type="application/pdf", ocr="auto")
    assert calls == [1]
    assert "TOTAL  9.00" in scanned["content"]["text"].splitlines()
    forced = parse_document(invoice_pdf, mime_type="application/pdf", ocr="force")
    assert calls == [1, 1]
    assert "2024-0113" in forced["content"]["text"]


def test_ocr_document_on_born_digital_pdf_uses_pixels_at_150_dpi(invoice_pdf: bytes) -> None:
    r = ocr_document(invoice_pdf, mime_type="application/pdf")
    page = r["pages"][0]
    assert (page["width"], page["height"]) == (1241, 1754)
    total = next(w for w in page["words"] if w["text"] == "TOTAL")
    # fpdf2 draws cell text 1 mm inside the cell placed at x=20 mm.
    assert total["boundingBox"]["vertices"][0]["x"] == pytest.approx(21 * 150 / 25.4, abs=3)


@pytest.mark.parametrize("mime_type, data", [
    ("application/pdf", b"%PDF-1.4\ngarbage"),
    ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
    ("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 10),
])
def test_undecodable_input_raises_corrupt_document(mime_type: str, data: bytes) -> None:
    with pytest.raises(CorruptDocument):
        parse_document(data, mime_type=mime_type)


def test_bad_options_are_refused(invoice_pdf: bytes) -> None:
    with pytest.raises(ValueError):
        parse_document(invoice_pdf, mime_type="application/pdf", ocr="sometimes")
    with pytest.raises(ValueError):
        parse_document(invoice_pdf, mime_type="application/pdf", output_formats=("docx",))


def _blank_pdf(width_pt: float, height_pt: float) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(width_pt, height_pt))
    pdf.add_page()
    pdf.set_fill_color(0, 0, 0)
    pdf.rect(0, 0, width_pt / 2, height_pt / 2, style="F")  # something to draw, no text layer
    return bytes(pdf.output())


@pytest.mark.parametrize("size", [(4, 4), (2, 3), (1.5, 40)])
def test_a_tiny_page_is_read_not_refused(size) -> None:
    """A label or a stamp is a legal page size: it is rasterised larger and read (here: no text)."""
    r = parse_document(_blank_pdf(*size), mime_type="application/pdf")
    assert r["usage"] == {"pages": 1} and r["content"]["text"].strip() == ""


def test_a_page_too_elongated_to_rasterise_is_unsupported_not_corrupt() -> None:
    from upstage_assets.errors import UnsupportedDocumentType

    with pytest.raises(UnsupportedDocumentType, match="too elongated") as caught:
        parse_document(_blank_pdf(2, 14_000), mime_type="application/pdf")
    assert caught.value.code == "unsupported_type"
