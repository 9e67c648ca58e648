"""Where each page's words come from: the PDF text layer, or OCR of a page image.

``ocr="auto"`` reads born-digital PDF pages from their text layer (fast, exact) and OCRs
only pages without one (scans) and images; ``ocr="force"`` rasterises and OCRs every
page. Scanned pages are rasterised and OCRed a few at a time so a long scan never holds
all its page images in memory at once, and no page is ever OCRed twice.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from upstage_assets.errors import CorruptDocument, UnsupportedDocumentType
from upstage_assets.local_engine import pdf_text
from upstage_assets.local_engine.geometry import OCR_CENTRE_BAND, PageContent, group_into_lines
from upstage_assets.local_engine.image_rules import image_rule_boxes
from upstage_assets.local_engine.ocr import OcrWord, deskew_angle, layout_words, ocr_images
from upstage_assets.local_engine.orientation import is_sideways, is_upside_down, turn_upright
from upstage_assets.local_engine.preprocess import OCR_DPI, normalise_page_image, to_bgr

PDF = "application/pdf"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/tiff", "image/bmp", "image/webp")
# Scanned pages OCRed together (one detector batch).
OCR_BATCH_PAGES = 2
# Giant pages (posters, broken /MediaBox) are rendered smaller instead of exhausting memory.
MAX_RASTER_SIDE = 8000
MAX_RASTER_PIXELS = 40_000_000
MIN_RASTER_SIDE = 32  # pixels: below this OCR sees nothing at all


@dataclass
class PageRead:
    """A page's layout input plus its words in OCR-response pixels (for ``ocr_document``)."""

    content: PageContent
    pixel_width: int
    pixel_height: int
    ocr_words: list[OcrWord] | None = None  # None: text-layer page, scaled on demand
    points_to_pixels: float = 1.0

    @property
    def pixel_words(self) -> list[OcrWord]:
        if self.ocr_words is None:
            self.ocr_words = _scaled_words(self.content, self.points_to_pixels)
        return self.ocr_words


def read_pages(data: bytes, mime_type: str, *, force_ocr: bool, device: str | None) -> list[PageRead]:
    if mime_type == PDF:
        return _read_pdf(data, force_ocr=force_ocr, device=device)
    if mime_type in IMAGE_TYPES:
        return _read_images(data, device=device)
    raise UnsupportedDocumentType(f"the local engine cannot read {mime_type}")


def _read_pdf(data: bytes, *, force_ocr: bool, device: str | None) -> list[PageRead]:
    scale = OCR_DPI / 72.0
    reads: dict[int, PageRead] = {}
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        for (index, image), words in zip(pending, ocr_images([img for _, img in pending], device), strict=True):
            reads[index] = _ocr_page(index + 1, *_upright(image, words, device))
        pending.clear()

    with pdf_text.open_pdf(data) as pdf:
        for index in range(pdf_text.page_count(pdf)):
            content = pdf_text.page_content(pdf, index)
            if not force_ocr and pdf_text.has_text_layer(content):
                # Sized like pdfium's rendering at OCR_DPI (it rounds up), so both paths agree.
                reads[index] = PageRead(content, math.ceil(content.width * scale), math.ceil(content.height * scale),
                                        points_to_pixels=scale)
                continue
            pending.append((index, to_bgr(render_pdf_page(pdf, index))))
            if len(pending) >= OCR_BATCH_PAGES:
                flush()
        flush()
    return [reads[index] for index in sorted(reads)]


def raster_scale(width_pt: float, height_pt: float, dpi: int = OCR_DPI) -> float:
    """Pixels per point for rendering: ``dpi``, raised for tiny pages (a label, a stamp: legal
    sizes) so their short side has ``MIN_RASTER_SIDE`` pixels, reduced for giant pages so memory
    stays bounded. A page too elongated for both is refused as unsupported, never as corrupt."""
    if width_pt <= 0 or height_pt <= 0:
        raise CorruptDocument("the PDF page has an empty size")
    scale = max(dpi / 72.0, MIN_RASTER_SIDE / min(width_pt, height_pt))
    scale = min(scale, MAX_RASTER_SIDE / max(width_pt, height_pt),
                math.sqrt(MAX_RASTER_PIXELS / (width_pt * height_pt)))
    if min(width_pt, height_pt) * scale < 8:
        raise UnsupportedDocumentType(
            f"the PDF page size {width_pt:g} x {height_pt:g} pt is too elongated to read "
            f"(1:{max(width_pt, height_pt) / min(width_pt, height_pt):.0f}; at most 1:{MAX_RASTER_SIDE // 8})")
    return scale


def render_pdf_page(pdf: object, index: int, dpi: int = OCR_DPI) -> np.ndarray:
    """RGB pixels of one PDF page at ``dpi`` (the page's /Rotate applied)."""
    with pdf_text.PDFIUM_LOCK:
        page = pdf[index]  # type: ignore[index]
        try:
            width_pt, height_pt = page.get_size()
            bitmap = page.render(scale=raster_scale(width_pt, height_pt, dpi))
            try:
                return np.array(bitmap.to_pil().convert("RGB"))
            finally:
                bitmap.close()
        finally:
            page.close()


def _scaled_words(content: PageContent, scale: float) -> list[OcrWord]:
    words: list[OcrWord] = []
    for line in content.lines:
        for word in line.words:
            b = word.box
            quad = ((b.x0 * scale, b.y0 * scale), (b.x1 * scale, b.y0 * scale),
                    (b.x1 * scale, b.y1 * scale), (b.x0 * scale, b.y1 * scale))
            words.append(OcrWord(word.text, quad, word.confidence))
    return words


def _upright(image: np.ndarray, words: list[OcrWord], device: str | None) -> tuple[np.ndarray, list[OcrWord]]:
    """The page turned upright (and OCRed again) when it was scanned sideways or upside down."""
    if is_sideways(words):
        turned = turn_upright(image, 90)
        turned_words = ocr_images([turned], device)[0]
        if is_upside_down(turned, turned_words):
            turned = turn_upright(image, 270)
            turned_words = ocr_images([turned], device)[0]
        return turned, turned_words
    if is_upside_down(image, words):
        turned = turn_upright(image, 180)
        return turned, ocr_images([turned], device)[0]
    return image, words


def _ocr_page(number: int, image: np.ndarray, words: list[OcrWord]) -> PageRead:
    """The page's OCR words laid out in lines, with the rules drawn on it (ruled tables on scans)."""
    height, width = image.shape[:2]
    rules = image_rule_boxes(image, deskew_angle(words)) if words else []
    content = PageContent(number=number, width=float(width), height=float(height),
                          lines=group_into_lines(layout_words(words, width, height), centre_band=OCR_CENTRE_BAND),
                          source="ocr", rules=rules)
    return PageRead(content, width, height, words)


def iter_image_frames(data: bytes) -> Iterator[np.ndarray]:
    """RGB pixels of every frame (multi-page TIFF), upright per EXIF orientation."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                dpi = img.info.get("dpi")
                for frame_index in range(getattr(img, "n_frames", 1) or 1):
                    img.seek(frame_index)
                    frame = ImageOps.exif_transpose(img) if frame_index == 0 else img
                    if frame.mode not in ("RGB", "L"):
                        frame = frame.convert("RGBA").convert("RGB") if "A" in frame.mode else frame.convert("RGB")
                    pixels = np.array(frame.convert("RGB"))
                    yield normalise_page_image(pixels, _dpi_value(dpi))
    except CorruptDocument:
        raise
    except Exception as exc:  # PIL raises many types for damaged files
        raise CorruptDocument(f"the image cannot be decoded ({type(exc).__name__}: {exc})") from None


def _dpi_value(dpi: object) -> float | None:
    if isinstance(dpi, tuple) and dpi and isinstance(dpi[0], int | float) and dpi[0] > 1:
        return float(dpi[0])
    return None


def _read_images(data: bytes, *, device: str | None) -> list[PageRead]:
    frames = list(iter_image_frames(data))
    if not frames:
        raise CorruptDocument("the image has no frames")
    reads: list[PageRead] = []
    for start in range(0, len(frames), OCR_BATCH_PAGES):
        batch = [to_bgr(frame) for frame in frames[start:start + OCR_BATCH_PAGES]]
        for offset, (image, words) in enumerate(zip(batch, ocr_images(batch, device), strict=True)):
            reads.append(_ocr_page(start + offset + 1, *_upright(image, words, device)))
    return reads


def page_image(data: bytes, mime_type: str, number: int) -> np.ndarray:
    """RGB pixels of page ``number`` (1-based) in the coordinate frame OCR used."""
    if mime_type == PDF:
        with pdf_text.open_pdf(data) as pdf:
            return render_pdf_page(pdf, number - 1)
    for index, frame in enumerate(iter_image_frames(data)):
        if index == number - 1:
            return frame
    raise CorruptDocument(f"the document has no page {number}")
