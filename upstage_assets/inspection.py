"""Look at a document's bytes before anything is paid for: type, pages, pixels, limits.

The type comes from the bytes (magic numbers), never from the file name, so a PNG named
``.pdf`` is still read as a PNG and HTML saved as ``.pdf`` is refused with a clear reason.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from upstage_assets.errors import (
    CorruptDocument,
    DocumentTooLarge,
    EmptyDocument,
    ImageTooLarge,
    TooManyPages,
    UnsupportedDocumentType,
)

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
BMP = "image/bmp"
WEBP = "image/webp"
IMAGE_TYPES = (PNG, JPEG, TIFF, BMP, WEBP)
SUPPORTED_TYPES = (PDF, *IMAGE_TYPES)

EXTENSION_FOR_TYPE = {PDF: ".pdf", PNG: ".png", JPEG: ".jpg", TIFF: ".tiff", BMP: ".bmp", WEBP: ".webp"}
SUPPORTED_EXTENSIONS = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


@dataclass(frozen=True)
class DocumentLimits:
    """Enforced before any API call; defaults follow the Upstage sync limits."""

    max_bytes: int = 100 * 1024 * 1024
    max_pages: int = 2000
    max_pixels_per_page: int = 200_000_000


@dataclass(frozen=True)
class DocumentInfo:
    mime_type: str
    page_count: int
    size_bytes: int
    width_px: int | None = None  # first page, images only
    height_px: int | None = None


def sniff_mime_type(data: bytes) -> str:
    """Name the format from its magic bytes; ``application/octet-stream`` when unknown."""
    head = data[:1024]
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if head.startswith(b"BM"):
        return BMP
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "text/html"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    return "application/octet-stream"


def inspect_document(data: bytes, limits: DocumentLimits | None = None) -> DocumentInfo:
    """Return type and page count, or raise the specific DocumentError that explains the refusal."""
    limits = limits or DocumentLimits()
    size = len(data)
    if size == 0:
        raise EmptyDocument("the document is empty (0 bytes)")
    if size > limits.max_bytes:
        raise DocumentTooLarge(f"the document is {size:,} bytes; the limit is {limits.max_bytes:,} bytes")
    mime = sniff_mime_type(data)
    if mime == PDF:
        pages = pdf_page_count(data)
        info = DocumentInfo(mime, pages, size)
    elif mime in IMAGE_TYPES:
        info = _inspect_image(data, mime, size, limits)
    else:
        described = {"text/html": "HTML", "application/zip": "a ZIP/Office container"}.get(mime, "an unknown format")
        raise UnsupportedDocumentType(
            f"the bytes are {described} ({mime}), not a PDF or a PNG/JPEG/TIFF/BMP/WEBP image")
    if info.page_count > limits.max_pages:
        raise TooManyPages(f"the document has {info.page_count:,} pages; the limit is {limits.max_pages:,}")
    return info


def pdf_page_count(data: bytes) -> int:
    """Open the PDF with pdfium (under the engine's pdfium lock: pdfium is not thread-safe);
    encrypted and corrupt files raise their own errors."""
    from upstage_assets.local_engine.pdf_text import open_pdf

    with open_pdf(data) as pdf:
        return len(pdf)


def _inspect_image(data: bytes, mime: str, size: int, limits: DocumentLimits) -> DocumentInfo:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Only the header is read here: a decompression bomb is refused before decoding.
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                frames = getattr(img, "n_frames", 1) or 1
    except Image.DecompressionBombError:
        raise ImageTooLarge("the image's pixel count is far beyond the limit (decompression bomb)") from None
    except Exception as exc:  # PIL raises many types for damaged files
        raise CorruptDocument(f"the image cannot be read ({type(exc).__name__}: {exc})") from None
    if width * height > limits.max_pixels_per_page:
        raise ImageTooLarge(
            f"the image is {width}x{height} = {width * height:,} pixels; the limit is {limits.max_pixels_per_page:,}")
    try:
        _verify_image(data)
    except Exception as exc:
        raise CorruptDocument(f"the image data is damaged ({type(exc).__name__}: {exc})") from None
    return DocumentInfo(mime, int(frames), size, width, height)


def _verify_image(data: bytes) -> None:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
