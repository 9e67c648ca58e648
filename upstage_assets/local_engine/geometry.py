"""Words, lines and pages: the one shape both the PDF text layer and OCR hand to layout.

Coordinates are page units with the origin at the top-left corner (points for the PDF
text layer, pixels for OCR); layout divides by the page size, so it never needs to know
which source a page came from.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from operator import attrgetter

from upstage_assets.local_engine.bidi import logical_word_order

# A gap wider than this many median character widths is a visual gap inside a line
# ("TOTAL      9.00"), kept as two spaces in text instead of one.
WIDE_GAP_CHARS = 2.5
# Words join a line only when their height is within this ratio of the median of its words'.
_MAX_HEIGHT_RATIO = 1.8
_MIN_HEIGHT_RATIO = 1 / _MAX_HEIGHT_RATIO
# OCR words join a line only when their centre is within this share of a height of the line's
# (see ``group_into_lines``).
OCR_CENTRE_BAND = 0.4


@dataclass(slots=True)
class Box:
    """An axis-aligned box; treated as immutable (slots, not frozen: built in hot loops)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def y_center(self) -> float:
        return (self.y0 + self.y1) / 2

    def union(self, other: Box) -> Box:
        return Box(self.x0 if self.x0 < other.x0 else other.x0, self.y0 if self.y0 < other.y0 else other.y0,
                   self.x1 if self.x1 > other.x1 else other.x1, self.y1 if self.y1 > other.y1 else other.y1)

    def vertical_overlap(self, other: Box) -> float:
        """Overlap of the two y-ranges as a share of the smaller height (0..1)."""
        return _overlap(self.y0, self.y1, other.y0, other.y1)

    def horizontal_overlap(self, other: Box) -> float:
        return _overlap(self.x0, self.x1, other.x0, other.x1)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Overlap of [a0, a1] and [b0, b1] as a share of the shorter one (0..1)."""
    overlap = (a1 if a1 < b1 else b1) - (a0 if a0 > b0 else b0)
    if overlap <= 0:
        return 0.0
    smaller = a1 - a0 if a1 - a0 < b1 - b0 else b1 - b0
    return overlap / smaller if smaller > 0 else 0.0


def union_all(boxes: list[Box]) -> Box:
    """The smallest box holding all ``boxes`` (one pass: this runs for every line and block)."""
    if not boxes:
        raise ValueError("union_all() of no boxes")
    first = boxes[0]
    x0, y0, x1, y1 = first.x0, first.y0, first.x1, first.y1
    for b in boxes:
        if b.x0 < x0:
            x0 = b.x0
        if b.y0 < y0:
            y0 = b.y0
        if b.x1 > x1:
            x1 = b.x1
        if b.y1 > y1:
            y1 = b.y1
    return Box(x0, y0, x1, y1)


def median(values: list[float]) -> float:
    """``statistics.median`` (the mean of the middle two for an even count), without its overhead."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


_BY_X0 = attrgetter("box.x0")


@dataclass(slots=True)
class Word:
    text: str
    box: Box
    font_size: float = 0.0  # points for the text layer, box height for OCR
    confidence: float = 1.0
    bold: bool = False
    hyphenated: bool = False  # ends a line with a soft hyphen: joins the next line's first word
    rtl: bool = False  # holds right-to-left letters (already in logical order)

    @property
    def char_width(self) -> float:
        return self.box.width / max(1, len(self.text))


@dataclass(slots=True)
class Line:
    """Words on one baseline, left to right.

    Its words are not changed after construction, so the derived values (font size,
    character width, text) are computed once, when first asked: layout asks many times.
    """

    words: list[Word]
    box: Box = field(init=False)
    _font_size: float | None = field(default=None, init=False, repr=False, compare=False)
    _char_width: float | None = field(default=None, init=False, repr=False, compare=False)
    _text: str | None = field(default=None, init=False, repr=False, compare=False)
    _gaps: list[float] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.words.sort(key=_BY_X0)
        self.box = union_all([w.box for w in self.words])

    @property
    def font_size(self) -> float:
        if self._font_size is None:
            self._font_size = median([w.font_size for w in self.words]) if self.words else 0.0
        return self._font_size

    @property
    def char_width(self) -> float:
        if self._char_width is None:
            chars, width = 0, 0.0
            for w in self.words:
                chars += len(w.text)
                width += w.box.x1 - w.box.x0
            self._char_width = width / max(1, chars)
        return self._char_width

    def gaps(self) -> list[float]:
        """Horizontal gaps between neighbouring words (computed once; do not modify the list)."""
        if self._gaps is None:
            self._gaps = [b.box.x0 - a.box.x1 for a, b in zip(self.words, self.words[1:], strict=False)]
        return self._gaps

    @property
    def text(self) -> str:
        """Words joined by one space; a wide visual gap becomes two spaces."""
        if self._text is None:
            self._text = self._joined_text()
        return self._text

    def _joined_text(self) -> str:
        words = self.words
        if len(words) < 2:
            return words[0].text if words else ""
        wide = WIDE_GAP_CHARS * max(self.char_width, 1e-6)
        if any(word.rtl for word in words):
            texts = [word.text for word in words]
            logical = logical_word_order(texts)
            if logical != texts:
                return self._text_in_order(_positions(texts, logical), wide)
        parts = [words[0].text]
        previous = words[0].box
        for word in words[1:]:
            parts.append("  " if word.box.x0 - previous.x1 > wide else " ")
            parts.append(word.text)
            previous = word.box
        return "".join(parts)

    def _text_in_order(self, order: list[int], wide: float) -> str:
        """The words in ``order`` (right-to-left runs); gaps count between visual neighbours only."""
        gaps = self.gaps()
        parts = [self.words[order[0]].text]
        for previous, index in zip(order, order[1:], strict=False):
            gap = gaps[min(previous, index)] if abs(previous - index) == 1 else 0.0
            parts.append("  " if gap > wide else " ")
            parts.append(self.words[index].text)
        return "".join(parts)


@dataclass
class PageContent:
    """One page's text, ready for layout; ``source`` says where the words came from."""

    number: int  # 1-based
    width: float
    height: float
    lines: list[Line]
    source: str  # "text_layer" or "ocr"
    figures: list[Box] = field(default_factory=list)
    rules: list[Box] = field(default_factory=list)  # drawn horizontal/vertical strokes (paths or pixels)


def _positions(visual: list[str], logical: list[str]) -> list[int]:
    """Indices into ``visual`` of the words of ``logical`` (repeated words taken in turn)."""
    free: dict[str, list[int]] = {}
    for index, text in enumerate(visual):
        free.setdefault(text, []).append(index)
    return [free[text].pop(0) for text in logical]


def group_into_lines(words: list[Word], *, centre_band: float | None = None) -> list[Line]:
    """Cluster words that share a baseline into lines, top to bottom.

    Two words share a line when their vertical ranges overlap by more than half the
    smaller height; this tolerates small skew on scans and super/subscripts in PDFs.
    ``centre_band`` (OCR pages) also asks the word's vertical centre to lie within that
    share of the smaller height from the centre of the line's horizontally nearest word (the
    local baseline: photographed receipts curve), and gives the word to the
    closest such line: OCR boxes are padded beyond the ink, so on a tightly printed
    receipt the boxes of neighbouring rows overlap by half and rows would merge.
    """
    lines: list[list[Word]] = []
    line_ys: list[list[float]] = []  # [y0, y1] of each line's box, grown in place (tall words leave it)
    line_heights: list[list[float]] = []  # each line's word heights, sorted (its median: similar heights)
    line_spans: list[list[float]] = []  # [leftmost x0, rightmost x1] of each line's words (see _collides)
    for word in sorted(words, key=_by_centre_then_left):
        box = word.box
        y0, y1 = box.y0, box.y1
        height = y1 - y0
        chosen: int | None = None
        best = float("inf")
        # Only the most recent lines can share a baseline with a word further down.
        for index in range(len(lines) - 1, max(-1, len(lines) - 6), -1):
            # _overlap(y0, y1, line y0, line y1) > 0.5, inlined: it runs per word and line
            ly0, ly1 = line_ys[index]
            overlap = (y1 if y1 < ly1 else ly1) - (y0 if y0 > ly0 else ly0)
            if overlap <= 0:
                continue
            smaller = height if height < ly1 - ly0 else ly1 - ly0
            if not (smaller > 0 and overlap / smaller > 0.5):
                continue
            span = line_spans[index]  # a word beside the line's span collides with none of its words
            if not (box.x0 >= span[1] or box.x1 <= span[0] or not _collides(word, lines[index], span)):
                continue
            # Words of very different sizes are different lines (a heading beside small address text).
            heights = line_heights[index]
            median = heights[len(heights) // 2]
            if not (median <= 0 or height <= 0 or _MIN_HEIGHT_RATIO <= height / median <= _MAX_HEIGHT_RATIO):
                continue
            if centre_band is None:
                chosen = index
                break
            nearest = min(lines[index], key=lambda w: _horizontal_gap(w.box, box))
            distance = abs(box.y_center - nearest.box.y_center)
            closest = min(box.height, nearest.box.height)
            if distance <= centre_band * closest and distance < best:
                chosen, best = index, distance
        if chosen is not None:
            lines[chosen].append(word)
            insort(line_heights[chosen], height)
            span = line_spans[chosen]
            if box.x0 < span[0]:
                span[0] = box.x0
            if box.x1 > span[1]:
                span[1] = box.x1
            ys = line_ys[chosen]
            if height < 2 * (ys[1] - ys[0]):
                if y0 < ys[0]:
                    ys[0] = y0
                if y1 > ys[1]:
                    ys[1] = y1
        else:
            lines.append([word])
            line_ys.append([y0, y1])
            line_heights.append([height])
            line_spans.append([box.x0, box.x1])
    result = [Line(ws) for ws in lines]
    result.sort(key=lambda line: (line.box.y0, line.box.x0))
    return result


def _by_centre_then_left(word: Word) -> tuple[float, float]:
    box = word.box
    return (box.y0 + box.y1) / 2, box.x0


def _horizontal_gap(a: Box, b: Box) -> float:
    return max(0.0, a.x0 - b.x1, b.x0 - a.x1)


def _collides(word: Word, line_words: list[Word], span: list[float]) -> bool:
    """True when the word overlaps a word already on the line (a different line of text).

    ``span`` is the x-range of the line's words: a word beside it overlaps none of them
    (the usual case, words arriving left to right).
    """
    box = word.box
    if box.x0 >= span[1] or box.x1 <= span[0]:
        return False
    x0, x1 = box.x0, box.x1
    for other in line_words:
        o = other.box
        if (o.x1 if o.x1 < x1 else x1) <= (o.x0 if o.x0 > x0 else x0):
            continue  # side by side: no horizontal overlap (the usual case, decided inline)
        if _overlap(o.x0, o.x1, x0, x1) > 0.5 and _overlap(o.y0, o.y1, box.y0, box.y1) < 0.8:
            return True
    return False


def split_line_at_gaps(line: Line, gap_factor: float) -> list[Line]:
    """Cut a line where the gap between words exceeds ``gap_factor`` line heights."""
    return cut_at_gaps(line, gap_factor * max(line.box.height, 1e-6))


def cut_at_gaps(line: Line, threshold: float) -> list[Line]:
    """Cut a line where the gap between neighbouring words exceeds ``threshold``."""
    pieces: list[list[Word]] = [[line.words[0]]]
    for gap, word in zip(line.gaps(), line.words[1:], strict=False):
        if gap > threshold:
            pieces.append([word])
        else:
            pieces[-1].append(word)
    if len(pieces) == 1:
        return [line]  # no gap wide enough: the line itself (same words, same order)
    return [Line(piece) for piece in pieces]


def body_font_size(lines: list[Line]) -> float:
    """The font size carrying the most characters: the document's running text."""
    by_size: dict[float, int] = {}  # characters per exact size, first seen first
    for line in lines:
        for word in line.words:
            by_size[word.font_size] = by_size.get(word.font_size, 0) + len(word.text)
    weights: dict[float, int] = {}
    for exact, count in by_size.items():
        size = round(exact * 2) / 2
        weights[size] = weights.get(size, 0) + count
    if not weights:
        return 0.0
    return max(weights.items(), key=lambda item: item[1])[0]
