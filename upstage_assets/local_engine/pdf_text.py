"""The text layer of born-digital PDF pages, read with pdfium: words with boxes and font sizes.

Reading characters one by one (rather than pdfium's pre-joined text) is what gives us
exact word boxes, font sizes for heading detection and the wide gaps between a label and
its value. pdfium is not thread-safe, so every call into it holds ``PDFIUM_LOCK``.
"""

from __future__ import annotations

import struct
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from upstage_assets.errors import CorruptDocument, EncryptedDocument
from upstage_assets.local_engine.bidi import has_rtl, visual_to_logical
from upstage_assets.local_engine.geometry import Box, PageContent, Word, group_into_lines
from upstage_assets.local_engine.pdf_rules import rule_boxes
from upstage_assets.local_engine.pdfium_calls import ffi, handle, lib
from upstage_assets.unicode_text import char_from_code_units

PDFIUM_LOCK = threading.RLock()

# A page with fewer visible characters than this has no usable text layer (a scan).
MIN_TEXT_LAYER_CHARS = 3
# Images smaller than this share of the page are decoration (logos stay: they are bigger).
MIN_FIGURE_AREA = 0.01
_LINE_BREAKS = {0x0A, 0x0D, 0x02, 0xFFFE}
# A text layer whose characters are mostly control codes is garbled (fonts without a usable
# ToUnicode map): the page is OCRed like a scan rather than emitting the garbage.
GARBLED_CONTROL_SHARE = 0.3
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
    """Lines of one page from its text layer (empty when the page is a scan).

    A page whose text runs down or up the displayed page (a landscape table printed on a
    portrait sheet, a /Rotate that turns the text sideways) is read in the frame where its
    text is horizontal: width and height then follow that frame.
    """
    with PDFIUM_LOCK:
        page = pdf[index]
        try:
            frame = _PageFrame(page)
            textpage = page.get_textpage()
            try:
                text_handle = handle(textpage.raw)
                chars = _page_chars(text_handle, frame)
                turn = text_direction(chars)
                if turn:
                    chars = [_turn_char(c, turn, frame.width, frame.height) for c in chars]
                words = join_vertical_runs(_words_from_chars(chars, text_handle))
            finally:
                textpage.close()
            images, paths = _page_objects(handle(page.raw))
            figures = [_turn_box(box, turn, frame.width, frame.height) for box in _figure_boxes(images, frame)]
            rules = [_turn_box(box, turn, frame.width, frame.height) for box in rule_boxes(paths, frame)]
        finally:
            page.close()
    width, height = (frame.height, frame.width) if turn in (90, 270) else (frame.width, frame.height)
    return PageContent(number=index + 1, width=width, height=height,
                       lines=group_into_lines(words), source="text_layer", figures=figures, rules=rules)


def has_text_layer(content: PageContent) -> bool:
    chars = 0
    for line in content.lines:
        for word in line.words:
            chars += len(word.text)
            if chars >= MIN_TEXT_LAYER_CHARS:
                return True
    return False


# One character on the displayed page: (text, x0, y0, x1, y1, pdfium index); an index of
# -1 is a word break (space, line break) and -2 a soft hyphen that pdfium put at a line end.
Char = tuple[str, float, float, float, float, int]
_BREAK, _SOFT_HYPHEN = -1, -2
_RECT_FLOATS = struct.Struct("4f")  # pdfium's FS_RECTF
_FONT_SIZE, _FONT_WEIGHT = lib.FPDFText_GetFontSize, lib.FPDFText_GetFontWeight  # once per word
_SOFT_HYPHEN_CODES = {0x02, 0xFFFE}


def _page_chars(textpage: Any, frame: _PageFrame) -> list[Char]:
    """Characters in content order with their boxes on the displayed page (``textpage``: a
    cffi handle, see ``pdfium_calls``).

    This loop runs once per character of every page (two pdfium calls each), so it works
    on plain floats, calls pdfium through cffi and takes printable ASCII the short way.
    UTF-16 surrogate pairs (emoji, rare CJK) come back as two codes: they are joined.
    """
    rect = ffi.new("FS_RECTF *")
    # The four floats in one call (left, top, right, bottom): cheaper than four field reads.
    read_rect, rect_bytes = _RECT_FLOATS.unpack_from, ffi.buffer(rect)
    get_unicode, get_box = lib.FPDFText_GetUnicode, lib.FPDFText_GetLooseCharBox
    coords = frame.coords
    upright, left, top = frame.rotation == 0, frame.left, frame.top
    chars: list[Char] = []
    append = chars.append
    controls = 0
    count = lib.FPDFText_CountChars(textpage)
    skip = False
    for index in range(count):
        if skip:  # the low unit of a surrogate pair joined to the character before
            skip = False
            continue
        code = get_unicode(textpage, index)
        if not 32 < code <= 127:  # printable ASCII needs none of these tests
            if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                # pdfium hands out UTF-16 units: join a surrogate pair into its character (the low
                # unit's own index is then skipped); a lone surrogate becomes U+FFFD.
                following = get_unicode(textpage, index + 1) if index + 1 < count else None
                char, joined = char_from_code_units(code, following)
                skip = joined
                code = ord(char)
            if code <= 32 or code in _LINE_BREAKS or (code > 127 and chr(code).isspace()):
                if code < 32 and code not in _LINE_BREAKS and code != 9:
                    controls += 1
                append(("", 0.0, 0.0, 0.0, 0.0, _SOFT_HYPHEN if code in _SOFT_HYPHEN_CODES else _BREAK))
                continue
        if not get_box(textpage, index, rect):
            continue
        r_left, r_top, r_right, r_bottom = read_rect(rect_bytes)
        if upright:  # frame.coords for an unrotated page, inlined
            cx0, cy0, cx1, cy1 = r_left - left, top - r_top, r_right - left, top - r_bottom
        else:
            cx0, cy0, cx1, cy1 = coords(r_left, r_bottom, r_right, r_top)
        if cx1 <= cx0 and cy1 <= cy0:
            continue
        append((chr(code), cx0, cy0, cx1, cy1, index))
    if count >= 20 and controls > GARBLED_CONTROL_SHARE * count:
        return []  # a font without a usable ToUnicode map: read the page as a scan instead
    return chars


# Another direction needs 1.5 times the rightward votes to reach 60% of all; checked with margin.
_SETTLED = 1.4


def text_direction(chars: list[Char]) -> int:
    """0, 90, 180 or 270: where most of the page's text runs (90: down the displayed page).

    Measured from one character to the next inside words, so it needs no font matrices;
    right-to-left letters and ligature parts (one box for several letters) do not vote.
    """
    votes = [0, 0, 0, 0]
    previous: Char | None = None
    for position, char in enumerate(chars):
        if not position & 255 and votes[0] and \
                max(votes[1], votes[2], votes[3]) + len(chars) - position < _SETTLED * votes[0]:
            return 0  # left-to-right has won: the characters left cannot give another direction 60%
        if char[5] < 0 or "\u0590" <= char[0] <= "\u08ff" or "\ufb1d" <= char[0] <= "\ufeff":
            previous = None
            continue
        if previous is not None:
            dx = (char[1] + char[3]) - (previous[1] + previous[3])
            dy = (char[2] + char[4]) - (previous[2] + previous[4])
            if abs(dx) > 1e-3 or abs(dy) > 1e-3:
                if abs(dx) >= abs(dy):
                    votes[0 if dx > 0 else 2] += 1
                else:
                    votes[1 if dy > 0 else 3] += 1
        previous = char
    total = sum(votes)
    best = max(range(4), key=lambda k: votes[k])
    if best == 0 or total < 3 or votes[best] < 0.6 * total:
        return 0
    return best * 90


def _turn_point(x: float, y: float, turn: int, width: float, height: float) -> tuple[float, float]:
    """A point of the displayed page in the frame where text of direction ``turn`` is horizontal."""
    if turn == 90:
        return y, width - x
    if turn == 270:
        return height - y, x
    return width - x, height - y  # 180


def _turn_char(char: Char, turn: int, width: float, height: float) -> Char:
    if char[5] < 0:
        return char
    xa, ya = _turn_point(char[1], char[2], turn, width, height)
    xb, yb = _turn_point(char[3], char[4], turn, width, height)
    return (char[0], min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb), char[5])


def _turn_box(box: Box, turn: int, width: float, height: float) -> Box:
    if not turn:
        return box
    _, x0, y0, x1, y1, _ = _turn_char(("", box.x0, box.y0, box.x1, box.y1, 0), turn, width, height)
    return Box(x0, y0, x1, y1)


def _words_from_chars(chars: list[Char], textpage: Any) -> list[Word]:
    """Words from characters: a break, or a jump away from the word so far, ends a word.

    Several characters on one box are one glyph (a ligature such as "ffi"): they stay
    together. Ligature and presentation-form code points are expanded (NFKC), and words
    with right-to-left letters are put in logical order. The loop runs once per character
    of every page: the word so far lives in plain locals, and ``_word`` builds each word.
    """
    words: list[Word] = []
    texts: list[str] = []
    x0 = y0 = x1 = y1 = 0.0
    px0 = px1 = -1.0
    first_index = -1
    rightward = leftward = 0  # moves between the word's characters
    for text, cx0, cy0, cx1, cy1, index in chars:
        if index < 0:
            if texts:
                _add_word(words, texts, x0, y0, x1, y1, textpage, first_index, rightward >= leftward,
                          index == _SOFT_HYPHEN)
                texts = []
                rightward = leftward = 0
            continue
        if texts and not (-0.01 < cx0 - px0 < 0.01 and -0.01 < cx1 - px1 < 0.01):  # not on the same glyph
            # A character that jumps away from the word so far (another line, a gap wider
            # than a quarter of the height, or backwards) starts a new word.
            height = y1 - y0 if y1 - y0 > 1e-6 else 1e-6
            overlap = (y1 if y1 < cy1 else cy1) - (y0 if y0 > cy0 else cy0)
            smaller = height if height < cy1 - cy0 else cy1 - cy0
            gap = cx0 - x1
            if gap < -0.5 * height and _is_rtl_char(text) and cx1 <= px1:
                gap = x0 - cx1  # right-to-left letters in logical order step leftwards
                leftward += 1
            else:
                rightward += 1
            if smaller <= 0 or overlap < 0.5 * smaller or gap > 0.25 * height or gap < -0.5 * height:
                _add_word(words, texts, x0, y0, x1, y1, textpage, first_index, rightward >= leftward, False)
                texts = []
                rightward = leftward = 0
        if not texts:
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
        px0, px1 = cx0, cx1
        texts.append(text)
    if texts:
        _add_word(words, texts, x0, y0, x1, y1, textpage, first_index, rightward >= leftward, False)
    return words


def _add_word(words: list[Word], texts: list[str], x0: float, y0: float, x1: float, y1: float, textpage: Any,
              first_index: int, drawn_rightward: bool, hyphenated: bool) -> None:
    """Append the word of ``texts`` (unless blank), its font size and weight from its first character."""
    text = "".join(texts).strip()
    if not text:
        return
    rtl = False
    if not text.isascii() and max(text) >= "\u0590":
        text = _expand_presentation_forms(text)
        rtl = has_rtl(text)
        if rtl and drawn_rightward:
            # Drawn left to right (or one glyph for the whole word): visual order.
            # pdfium already hands a word drawn right to left in logical order.
            text = visual_to_logical(text)
    size_at = _FONT_SIZE(textpage, first_index)
    bold = _FONT_WEIGHT(textpage, first_index) >= _BOLD_WEIGHT
    # Positional (text, box, font_size, confidence, bold, hyphenated, rtl): one per word.
    words.append(Word(text, Box(x0, y0, x1, y1), size_at, 1.0, bold, hyphenated, rtl))


def join_vertical_runs(words: list[Word]) -> list[Word]:
    """Words of a sideways line (a margin stamp, a turned label) joined into one word.

    Text that runs up or down a page whose other text is horizontal comes out of the
    character walk as a column of tall, narrow words in content (reading) order; without
    this each would be a line of its own, read bottom-up or top-down by accident.
    """
    out: list[Word] = []
    for word in words:
        if not _is_vertical(word):  # most words: kept as they are
            out.append(word)
            continue
        previous = out[-1] if out else None
        if previous is not None and _is_vertical(previous) \
                and previous.box.horizontal_overlap(word.box) > 0.5 \
                and max(word.box.y0 - previous.box.y1, previous.box.y0 - word.box.y1) < 2 * word.box.width:
            out[-1] = Word(text=f"{previous.text} {word.text}", box=previous.box.union(word.box),
                           font_size=previous.font_size, bold=previous.bold, rtl=previous.rtl or word.rtl)
            continue
        out.append(word)
    return out


def _is_vertical(word: Word) -> bool:
    return len(word.text) >= 2 and word.box.height > 1.5 * word.box.width


def _is_rtl_char(text: str) -> bool:
    return "\u0590" <= text <= "\u08ff" or "\ufb1d" <= text <= "\ufdff" or "\ufe70" <= text <= "\ufeff"


def _expand_presentation_forms(text: str) -> str:
    """NFKC for ligatures ("\ufb01" -> "fi") and Hebrew/Arabic presentation forms only."""
    if not any("\ufb00" <= ch <= "\ufdff" or "\ufe70" <= ch <= "\ufeff" for ch in text):
        return text
    return "".join(unicodedata.normalize("NFKC", ch) if "\ufb00" <= ch <= "\ufdff" or "\ufe70" <= ch <= "\ufeff"
                   else ch for ch in text)


def _figure_boxes(images: list[Any], frame: _PageFrame) -> list[Box]:
    """Boxes of embedded images big enough to be figures, but not full-page backgrounds."""
    page_area = max(frame.width * frame.height, 1e-6)
    boxes: list[Box] = []
    bounds = ffi.new("float[4]")
    left, bottom, right, top = bounds, bounds + 1, bounds + 2, bounds + 3
    for obj in images:
        if not lib.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
            continue
        box = frame.box(bounds[0], bounds[1], bounds[2], bounds[3])
        box = Box(max(0.0, box.x0), max(0.0, box.y0), min(frame.width, box.x1), min(frame.height, box.y1))
        share = max(0.0, box.width) * max(0.0, box.height) / page_area
        if MIN_FIGURE_AREA <= share < 0.85:
            boxes.append(box)
    return boxes


def _page_objects(raw_page: Any) -> tuple[list[Any], list[Any]]:
    """The page's image objects (and form XObjects that hold an image) and its path objects,
    top level, in content order: one pass for both figures and rules (cffi handles).

    Uses the raw object API: wrapping every path object of a drawing-heavy page in Python
    objects cost more than its text.
    """
    images: list[Any] = []
    paths: list[Any] = []
    get_object, get_type = lib.FPDFPage_GetObject, lib.FPDFPageObj_GetType
    image_kind, path_kind, form_kind = pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_FORM
    for i in range(lib.FPDFPage_CountObjects(raw_page)):
        obj = get_object(raw_page, i)
        kind = get_type(obj)
        if kind == path_kind:
            paths.append(obj)
        elif kind == image_kind:
            images.append(obj)
        elif kind == form_kind:
            # Inner bounds are in the form's own space: the form's page bounds stand in.
            if any(get_type(lib.FPDFFormObj_GetObject(obj, j)) == image_kind
                   for j in range(lib.FPDFFormObj_CountObjects(obj))):
                images.append(obj)
    return images, paths


def page_count(pdf: pdfium.PdfDocument) -> int:
    with PDFIUM_LOCK:
        return len(pdf)
