"""Document inspection refuses bad input with a specific error before anything is paid for."""

import io

import pytest
from fpdf import FPDF
from PIL import Image

from upstage_assets.errors import (
    CorruptDocument,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    ImageTooLarge,
    TooManyPages,
    UnsupportedDocumentType,
)
from upstage_assets.inspection import DocumentLimits, inspect_document, sniff_mime_type


def make_pdf(pages: int = 1, password: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for i in range(pages):
        pdf.add_page()
        pdf.cell(text=f"page {i + 1}")
    if password is not None:
        pdf.set_encryption(owner_password="owner", user_password=password)
    return bytes(pdf.output())


def make_png(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def test_pdf_pages_and_type_come_from_the_bytes():
    info = inspect_document(make_pdf(3))
    assert (info.mime_type, info.page_count, info.size_bytes > 0) == ("application/pdf", 3, True)


def test_png_named_anything_is_a_png():
    data = make_png(40, 30)
    assert sniff_mime_type(data) == "image/png"
    info = inspect_document(data)
    assert (info.mime_type, info.page_count, info.width_px, info.height_px) == ("image/png", 1, 40, 30)


@pytest.mark.parametrize("data, error", [
    (b"", EmptyDocument),
    (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", CorruptDocument),
    (b"<!DOCTYPE html><html><body>not a pdf</body></html>", UnsupportedDocumentType),
    (b"PK\x03\x04zipcontent", UnsupportedDocumentType),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, CorruptDocument),
])
def test_bad_bytes_get_specific_errors(data, error):
    with pytest.raises(error) as info:
        inspect_document(data)
    assert info.value.message and info.value.code == error.code


def test_encrypted_pdf_with_user_password_is_refused_as_encrypted():
    with pytest.raises(EncryptedDocument, match="encrypted"):
        inspect_document(make_pdf(1, password="secret"))


def test_limits_are_enforced_before_any_work():
    with pytest.raises(DocumentTooLarge):
        inspect_document(make_pdf(1), DocumentLimits(max_bytes=100))
    with pytest.raises(TooManyPages, match="5 pages"):
        inspect_document(make_pdf(5), DocumentLimits(max_pages=4))
    with pytest.raises(ImageTooLarge):
        inspect_document(make_png(400, 400), DocumentLimits(max_pixels_per_page=100_000))


def test_decompression_bomb_header_is_refused_without_decoding():
    # A PNG header that claims 100k x 100k pixels: PIL refuses it, and so do we, specifically.
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG", optimize=True)
    with pytest.raises(ImageTooLarge):
        inspect_document(buffer.getvalue(), DocumentLimits(max_pixels_per_page=200_000_000 // 1000))
