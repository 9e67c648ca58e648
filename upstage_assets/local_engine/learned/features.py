"""What the model sees of a page: its lines as character ids, plus each line's box and kind.

Lines come from ``field_matching.document_lines`` (the rules' view of the parse), so the
model and the rules read the same text. Segments of a line are joined by a tab, one
character the model can see (the layout keeps a label and its value apart that way).
Text is upper-cased: OCR reads case unreliably and the labels of a corpus may not match it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from upstage_assets.local_engine.field_matching import Segment, document_lines

SEGMENT_SEPARATOR = "\t"
MAX_LINE_CHARS = 96
PAD, UNKNOWN, SEPARATOR, OTHER_LETTER, OTHER_DIGIT = range(5)
FIRST_ASCII = 5
VOCAB_SIZE = FIRST_ASCII + 95  # printable ASCII, 32..126 (lower case folded onto upper)
CATEGORIES = ("heading1", "paragraph", "table", "list", "footer", "header")
GEOMETRY_FEATURES = 9 + len(CATEGORIES) + 1
# Two lines are one visual row when their centres are within this share of the smaller height.
# OCR boxes are padded well beyond the ink, so on a tightly printed receipt the next row's
# centre can be less than half a (padded) height away.
ROW_BAND = 0.3


@dataclass
class PageView:
    """A document's lines as the model reads them (page numbers kept for coordinates)."""

    lines: list[list[Segment]]
    texts: list[str]  # one string per line, segments joined by SEGMENT_SEPARATOR, upper case
    geometry: np.ndarray  # [lines, GEOMETRY_FEATURES] float32
    raw_texts: list[str]  # the same as printed (same offsets)


def upper(text: str) -> str:
    """Upper case, one character for one (keeps offsets: 'ß' stays 'ß')."""
    return "".join(ch.upper() if len(ch.upper()) == 1 else ch for ch in text)


def char_id(ch: str) -> int:
    code = ord(ch)
    if ch == SEGMENT_SEPARATOR:
        return SEPARATOR
    if 97 <= code <= 122:
        code -= 32
    if 32 <= code <= 126:
        return FIRST_ASCII + code - 32
    if ch.isdigit():
        return OTHER_DIGIT
    if ch.isalpha():
        return OTHER_LETTER
    return UNKNOWN


def encode_line(text: str) -> np.ndarray:
    return np.fromiter((char_id(ch) for ch in text[:MAX_LINE_CHARS]), dtype=np.int64, count=min(len(text),
                                                                                                   MAX_LINE_CHARS))


def line_geometry(lines: list[list[Segment]]) -> np.ndarray:
    """Per line: box (relative to the page), height, order, page, segment count, digit share, kind."""
    count = max(1, len(lines))
    heights = [line[0].y1 - line[0].y0 for line in lines if line]
    typical = float(np.median(heights)) if heights else 0.02
    features = np.zeros((len(lines), GEOMETRY_FEATURES), dtype=np.float32)
    for index, line in enumerate(lines):
        x0, x1 = min(s.x0 for s in line), max(s.x1 for s in line)
        y0, y1 = line[0].y0, line[0].y1
        text = "".join(s.text for s in line)
        digits = sum(ch.isdigit() for ch in text) / max(1, len(text))
        category = line[0].category
        kind = CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)
        features[index, :9] = (x0, x1, y0, y1, min(4.0, (y1 - y0) / max(typical, 1e-4)) / 4,
                               index / count, min(line[0].page - 1, 3) / 3, min(len(line), 6) / 6, digits)
        features[index, 9 + kind] = 1.0
    return features


def visual_order(lines: list[list[Segment]]) -> list[list[Segment]]:
    """Lines top to bottom per page, left to right within a row.

    The layout's reading order goes block by block, which can put an address's last line
    after the block beside it; the model wants spatial neighbours next to each other.
    """
    ordered = sorted(lines, key=lambda line: (line[0].page, (line[0].y0 + line[0].y1) / 2))
    rows: list[list[list[Segment]]] = []
    for line in ordered:
        middle, height = (line[0].y0 + line[0].y1) / 2, line[0].y1 - line[0].y0
        if rows:
            last = rows[-1][0][0]
            if last.page == line[0].page and abs((last.y0 + last.y1) / 2 - middle) < ROW_BAND * min(height,
                                                                                             last.y1 - last.y0):
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda ln: ln[0].x0)]


def page_view(parsed: dict[str, Any]) -> PageView:
    lines = visual_order([line for line in document_lines(parsed) if line])
    raw = [SEGMENT_SEPARATOR.join(s.text for s in line) for line in lines]
    return PageView(lines, [upper(text) for text in raw], line_geometry(lines), raw)


def segment_at(view: PageView, line: int, column: int) -> Segment:
    """The segment of ``line`` holding character ``column`` of its joined text."""
    offset = 0
    for segment in view.lines[line]:
        offset += len(segment.text) + len(SEGMENT_SEPARATOR)
        if column < offset:
            return segment
    return view.lines[line][-1]
