"""The text layer of born-digital PDF pages, read with pdfium: words with boxes and font sizes.

Reading characters one by one (rather than pdfium's pre-joined text) is what gives us
exact word boxes, font sizes for heading detection and the wide gaps between a label and
its value. pdfium is not thread-safe, so every call into it holds ``PDFIUM_LOCK``.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from upstage_assets.errors import CorruptDocument, EncryptedDocument
from upstage_assets.local_engine.geometry import Box, PageContent, Word, group_into_lines

PDFIUM_LOCK = threading.RLock()

# A page with fewer visible characters than this has no usable text layer (a scan).
MIN_TEXT_LAYER_CHARS = 3
# Images smaller than this share of the page are decoration (logos stay: they are bigger).
MIN_FIGURE_AREA = 0.01
_LINE_BREAKS = {0x0A, 0x0D, 0x02, 0xFFFE}
_BOLD_WEIGHT = 600


@contextmanager
def open_pdf(data: bytes) -> Iterator[pdfium.PdfDocument]:
    """Open a PDF under the pdfium lock; damaged or encrypted files raise DocumentErrors."""
    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            text = str(exc).lower()
            if "password" in text or "security" in text:
                raise EncryptedDocument("the PDF is encrypted with a password; supply an unencrypted copy") from None
            raise CorruptDocument(f"the PDF cannot be opened ({exc}); it is damaged or not a PDF") from None
        try:
            if len(pdf) == 0:
                raise CorruptDocument("the PDF has no pages")
            yield pdf
        finally:
            pdf.close()


class _PageFrame:
    """Maps PDF user space (origin bottom-left, unrotated) to the displayed page (origin top-left)."""

    def __init__(self, page: pdfium.PdfPage):
        # The effective crop box (inherited boxes resolved by pdfium), in unrotated user space.
        left, bottom, right, top = page.get_bbox()
        self.left, self.bottom, self.top = left, bottom, top
        self.unrotated_width = right - left
        self.unrotated_height = top - bottom
        self.rotation = page.get_rotation() % 360
        if self.rotation in (90, 270):
            self.width, self.height = self.unrotated_height, self.unrotated_width
        else:
            self.width, self.height = self.unrotated_width, self.unrotated_height

    def point(self, x: float, y: float) -> tuple[float, float]:
        u, v = x - self.left, self.top - y
        if self.rotation == 90:
            return self.unrotated_height - v, u
        if self.rotation == 180:
            return self.unrotated_width - u, self.unrotated_height - v
        if self.rotation == 270:
            return v, self.unrotated_width - u
        return u, v

    def box(self, left: float, bottom: float, right: float, top: float) -> Box:
        xa, ya = self.point(left, bottom)
        xb, yb = self.point(right, top)
        return Box(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))


def page_content(pdf: pdfium.PdfDocument, index: int) -> PageContent:
    """Lines of one page from its text layer (empty when the page is a scan)."""
    with PDFIUM_LOCK:
        page = pdf[index]
        try:
            frame = _PageFrame(page)
            words = _page_words(page, frame)
            figures = _figure_boxes(page, frame)
        finally:
            page.close()
    return PageContent(number=index + 1, width=frame.width, height=frame.height,
                       lines=group_into_lines(words), source="text_layer", figures=figures)


def has_text_layer(content: PageContent) -> bool:
    return sum(len(w.text) for line in content.lines for w in line.words) >= MIN_TEXT_LAYER_CHARS


def _page_words(page: pdfium.PdfPage, frame: _PageFrame) -> list[Word]:
    textpage = page.get_textpage()
    try:
        return _words_from_chars(textpage, frame)
    finally:
        textpage.close()


def _words_from_chars(textpage: pdfium.PdfTextPage, frame: _PageFrame) -> list[Word]:
    """Walk the characters in content order; a space, a line break or a jump ends a word."""
    rect = pdfium_c.FS_RECTF()
    words: list[Word] = []
    chars: list[str] = []
    box: Box | None = None
    size = 0.0
    weight = 0

    def flush() -> None:
        nonlocal chars, box
        text = "".join(chars).strip()
        if text and box is not None:
            words.append(Word(text=text, box=box, font_size=size, bold=weight >= _BOLD_WEIGHT))
        chars, box = [], None

    for i in range(textpage.count_chars()):
        code = pdfium_c.FPDFText_GetUnicode(textpage, i)
        if code in _LINE_BREAKS or code == 0 or chr(code).isspace():
            flush()
            continue
        if not pdfium_c.FPDFText_GetLooseCharBox(textpage, i, ctypes.byref(rect)):
            continue
        char_box = frame.box(rect.left, rect.bottom, rect.right, rect.top)
        if char_box.width <= 0 and char_box.height <= 0:
            continue
        if box is not None and _breaks_word(box, char_box):
            flush()
        if box is None:
            size = pdfium_c.FPDFText_GetFontSize(textpage, i)
            weight = pdfium_c.FPDFText_GetFontWeight(textpage, i)
            box = char_box
        else:
            box = box.union(char_box)
        chars.append(chr(code))
    flush()
    return words


def _breaks_word(word: Box, char: Box) -> bool:
    """A character that jumps away from the word so far starts a new word."""
    height = max(word.height, 1e-6)
    if char.vertical_overlap(word) < 0.5:
        return True
    gap = char.x0 - word.x1
    return gap > 0.25 * height or gap < -0.5 * height


def _figure_boxes(page: pdfium.PdfPage, frame: _PageFrame) -> list[Box]:
    """Boxes of embedded images big enough to be figures, but not full-page backgrounds."""
    page_area = max(frame.width * frame.height, 1e-6)
    boxes: list[Box] = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        box = frame.box(left, bottom, right, top)
        box = Box(max(0.0, box.x0), max(0.0, box.y0), min(frame.width, box.x1), min(frame.height, box.y1))
        share = box.width * box.height / page_area
        if MIN_FIGURE_AREA <= share < 0.85:
            boxes.append(box)
    return boxes


def page_count(pdf: pdfium.PdfDocument) -> int:
    with PDFIUM_LOCK:
        return len(pdf)
