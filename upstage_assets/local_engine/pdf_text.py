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
from upstage_assets.unicode_text import char_from_code_units

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

    def coords(self, left: float, bottom: float, right: float, top: float) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) on the displayed page of a user-space rectangle."""
        if self.rotation == 0:  # the common case, inlined
            return left - self.left, self.top - top, right - self.left, self.top - bottom
        xa, ya = self.point(left, bottom)
        xb, yb = self.point(right, top)
        return min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)

    def box(self, left: float, bottom: float, right: float, top: float) -> Box:
        return Box(*self.coords(left, bottom, right, top))


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
    """Walk the characters in content order; a space, a line break or a jump ends a word.

    This loop runs once per character of every page, so it works on plain floats.
    """
    rect = pdfium_c.FS_RECTF()
    rect_ref = ctypes.byref(rect)
    get_unicode, get_box = pdfium_c.FPDFText_GetUnicode, pdfium_c.FPDFText_GetLooseCharBox
    words: list[Word] = []
    chars: list[str] = []
    x0 = y0 = x1 = y1 = 0.0
    first_index = -1

    def flush() -> None:
        text = "".join(chars).strip()
        if text:
            size_at = pdfium_c.FPDFText_GetFontSize(textpage, first_index)
            bold = pdfium_c.FPDFText_GetFontWeight(textpage, first_index) >= _BOLD_WEIGHT
            words.append(Word(text=text, box=Box(x0, y0, x1, y1), font_size=size_at, bold=bold))
        chars.clear()

    count = textpage.count_chars()
    i = -1
    while i + 1 < count:
        i += 1
        index = i
        code = get_unicode(textpage, i)
        char = None
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            # pdfium hands out UTF-16 units: join a surrogate pair into its character (the low
            # unit's own index is then skipped); a lone surrogate becomes U+FFFD.
            following = get_unicode(textpage, i + 1) if i + 1 < count else None
            char, joined = char_from_code_units(code, following)
            if joined:
                i += 1
        if char is None and (code <= 32 or code in _LINE_BREAKS or (code > 127 and chr(code).isspace())):
            if chars:
                flush()
            continue
        if not get_box(textpage, index, rect_ref):
            continue
        cx0, cy0, cx1, cy1 = frame.coords(rect.left, rect.bottom, rect.right, rect.top)
        if cx1 <= cx0 and cy1 <= cy0:
            continue
        if chars:
            # A character that jumps away from the word so far (another line, a gap wider
            # than a quarter of the height, or backwards) starts a new word.
            height = y1 - y0 if y1 - y0 > 1e-6 else 1e-6
            overlap = (y1 if y1 < cy1 else cy1) - (y0 if y0 > cy0 else cy0)
            smaller = height if height < cy1 - cy0 else cy1 - cy0
            gap = cx0 - x1
            if smaller <= 0 or overlap < 0.5 * smaller or gap > 0.25 * height or gap < -0.5 * height:
                flush()
        if not chars:
            x0, y0, x1, y1, first_index = cx0, cy0, cx1, cy1, index
        else:
            if cx0 < x0:
                x0 = cx0
            if cy0 < y0:
                y0 = cy0
            if cx1 > x1:
                x1 = cx1
            if cy1 > y1:
                y1 = cy1
        chars.append(char or chr(code))
    if chars:
        flush()
    return words


def _figure_boxes(page: pdfium.PdfPage, frame: _PageFrame) -> list[Box]:
    """Boxes of embedded images big enough to be figures, but not full-page backgrounds.

    Uses the raw object API (top level, and form XObjects that hold an image): wrapping every
    path object of a drawing-heavy page in Python objects cost more than its text.
    """
    page_area = max(frame.width * frame.height, 1e-6)
    boxes: list[Box] = []
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    refs = [ctypes.byref(v) for v in (left, bottom, right, top)]
    for obj in _image_objects(page.raw):
        if not pdfium_c.FPDFPageObj_GetBounds(obj, *refs):
            continue
        box = frame.box(left.value, bottom.value, right.value, top.value)
        box = Box(max(0.0, box.x0), max(0.0, box.y0), min(frame.width, box.x1), min(frame.height, box.y1))
        share = max(0.0, box.width) * max(0.0, box.height) / page_area
        if MIN_FIGURE_AREA <= share < 0.85:
            boxes.append(box)
    return boxes


def _image_objects(raw_page: object) -> Iterator[object]:
    for i in range(pdfium_c.FPDFPage_CountObjects(raw_page)):
        obj = pdfium_c.FPDFPage_GetObject(raw_page, i)
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            yield obj
        elif kind == pdfium_c.FPDF_PAGEOBJ_FORM:
            # Inner bounds are in the form's own space: the form's page bounds stand in.
            if any(pdfium_c.FPDFPageObj_GetType(pdfium_c.FPDFFormObj_GetObject(obj, j)) == pdfium_c.FPDF_PAGEOBJ_IMAGE
                   for j in range(pdfium_c.FPDFFormObj_CountObjects(obj))):
                yield obj


def page_count(pdf: pdfium.PdfDocument) -> int:
    with PDFIUM_LOCK:
        return len(pdf)
