"""Ruled tables: cell grids from a page's drawn rules, merged cells as row/column spans.

The rules that touch each other form a grid; its distinct x and y positions cut it into
elementary cells, and two neighbouring cells with no rule between them are one (merged)
cell. A table drawn with horizontal rules only between rows and a few inner verticals
(its outer sides left open) is closed by the ends of its horizontal rules. A merged cell
whose text lines break at wide gaps into pieces lying in different columns is not one
cell but unruled rows inside a ruled frame (an invoice body under a boxed header row):
each text line becomes a row of its own there.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from upstage_assets.local_engine.geometry import WIDE_GAP_CHARS, Box, Line, Word, group_into_lines

# Rule positions closer than this (points or pixels) are one rule (double rules, joins).
SNAP = 3.0
# A boundary counts as drawn when rules cover this share of it.
MIN_COVER = 0.6
MIN_ROWS = 2
MIN_COLUMNS = 2
# A "cell" holding more text lines than this is a ruled page region (a boxed column of a
# newsletter, a frame around the page), not a table cell: the grid is left to text layout.
MAX_CELL_LINES = 10
# Pages with more rules than this are drawings (maps, plots); the grid search stays cheap.
MAX_RULES = 5000
MAX_CROSSING_TESTS = 250_000


@dataclass
class Segment:
    """A horizontal (``at`` = y, ``start``..``end`` along x) or vertical rule."""

    at: float
    start: float
    end: float


@dataclass
class Table:
    """A ruled table: ``rows`` hold each cell's text at its top-left position ("" where
    a merged cell continues); ``spans`` maps those positions to (rowspan, colspan) > 1."""

    box: Box
    rows: list[list[str]]
    spans: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)


def ruled_tables(lines: list[Line], rules: list[Box]) -> tuple[list[Table], list[Line]]:
    """The page's ruled tables and the lines left outside them."""
    if len(rules) < 4 or len(rules) > MAX_RULES:
        return [], lines
    horizontal = _merge([Segment((r.y0 + r.y1) / 2, r.x0, r.x1) for r in rules if r.width >= r.height])
    vertical = _merge([Segment((r.x0 + r.x1) / 2, r.y0, r.y1) for r in rules if r.height > r.width])
    if len(horizontal) * len(vertical) > MAX_CROSSING_TESTS:
        return [], lines
    words = [word for line in lines for word in line.words]
    tables: list[Table] = []
    used: set[int] = set()
    for group_h, group_v in _components(horizontal, vertical):
        table = _table(group_h, group_v, words, used)
        if table is not None:
            tables.append(table)
    if not tables:
        return [], lines
    rest: list[Line] = []
    for line in lines:
        kept = [word for word in line.words if id(word) not in used]
        if len(kept) == len(line.words):
            rest.append(line)
        elif kept:
            rest.append(Line(kept))
    return tables, rest


def _merge(segments: list[Segment]) -> list[Segment]:
    """Collinear segments that touch or overlap joined into one."""
    merged: list[Segment] = []
    for segment in sorted(segments, key=lambda s: (round(s.at / SNAP), s.start)):
        last = merged[-1] if merged else None
        if last is not None and abs(last.at - segment.at) <= SNAP and segment.start <= last.end + SNAP:
            last.end = max(last.end, segment.end)
        else:
            merged.append(Segment(segment.at, segment.start, segment.end))
    return merged


def _crosses(h: Segment, v: Segment) -> bool:
    return h.start - SNAP <= v.at <= h.end + SNAP and v.start - SNAP <= h.at <= v.end + SNAP


def _components(horizontal: list[Segment], vertical: list[Segment]) -> list[tuple[list[Segment], list[Segment]]]:
    """Groups of rules that touch each other (union-find over horizontal x vertical crossings)."""
    parent = list(range(len(horizontal) + len(vertical)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, h in enumerate(horizontal):
        for j, v in enumerate(vertical):
            if _crosses(h, v):
                parent[find(i)] = find(len(horizontal) + j)
    groups: dict[int, tuple[list[Segment], list[Segment]]] = {}
    for i, h in enumerate(horizontal):
        groups.setdefault(find(i), ([], []))[0].append(h)
    for j, v in enumerate(vertical):
        groups.setdefault(find(len(horizontal) + j), ([], []))[1].append(v)
    return [g for g in groups.values() if len(g[0]) >= 2 and g[1]]


def _positions(values: list[float]) -> list[float]:
    """Distinct positions, values closer than SNAP clustered to their mean."""
    clusters: list[list[float]] = []
    for value in sorted(values):
        if clusters and value - clusters[-1][-1] <= SNAP:
            clusters[-1].append(value)
        else:
            clusters.append([value])
    return [sum(c) / len(c) for c in clusters]


def _covered(segments: list[Segment], at: float, start: float, end: float) -> bool:
    """Rules at ``at`` cover most of [start, end]."""
    length = sum(max(0.0, min(end, s.end) - max(start, s.start)) for s in segments if abs(s.at - at) <= SNAP)
    return length >= MIN_COVER * (end - start)


def _table(horizontal: list[Segment], vertical: list[Segment], words: list[Word], used: set[int]) -> Table | None:
    left, right = min(h.start for h in horizontal), max(h.end for h in horizontal)
    top, bottom = min(h.at for h in horizontal), max(h.at for h in horizontal)
    vertical = list(vertical)
    for x in (left, right):  # sides left open: the horizontal rules' ends close them
        if not any(abs(v.at - x) <= SNAP and _covered([v], v.at, top, bottom) for v in vertical):
            vertical.append(Segment(x, top, bottom))
    xs = _positions([v.at for v in vertical if left - SNAP <= v.at <= right + SNAP])
    ys = _positions([h.at for h in horizontal])
    if len(xs) < MIN_COLUMNS + 1 or len(ys) < MIN_ROWS + 1:
        return None
    inside = [w for w in words if id(w) not in used and xs[0] < _cx(w) < xs[-1] and ys[0] < _cy(w) < ys[-1]]
    if not inside:
        return None
    regions = _regions(xs, ys, horizontal, vertical)
    grid = _Grid(xs, ys, regions)
    for word in inside:
        grid.add(word)
    table = grid.table()
    if table is None:
        return None
    used.update(id(w) for w in inside)
    return table


def _cx(word: Word) -> float:
    return (word.box.x0 + word.box.x1) / 2


def _cy(word: Word) -> float:
    return (word.box.y0 + word.box.y1) / 2


def _regions(xs: list[float], ys: list[float], horizontal: list[Segment],
             vertical: list[Segment]) -> list[tuple[int, int, int, int]]:
    """(row, col, rowspan, colspan) of each cell: elementary cells joined where no rule parts them."""
    rows, cols = len(ys) - 1, len(xs) - 1
    owner = [[r * cols + c for c in range(cols)] for r in range(rows)]
    parent = list(range(rows * cols))
    at_x = [[v for v in vertical if abs(v.at - x) <= SNAP] for x in xs]
    at_y = [[h for h in horizontal if abs(h.at - y) <= SNAP] for y in ys]

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for r in range(rows):
        for c in range(cols):
            if c + 1 < cols and not _covered(at_x[c + 1], xs[c + 1], ys[r], ys[r + 1]):
                parent[find(owner[r][c + 1])] = find(owner[r][c])
            if r + 1 < rows and not _covered(at_y[r + 1], ys[r + 1], xs[c], xs[c + 1]):
                parent[find(owner[r + 1][c])] = find(owner[r][c])
    changed = True
    while changed:  # an L-shaped merge becomes its bounding rectangle
        changed = False
        bounds: dict[int, list[int]] = {}
        for r in range(rows):
            for c in range(cols):
                b = bounds.setdefault(find(owner[r][c]), [r, c, r, c])
                b[0], b[1], b[2], b[3] = min(b[0], r), min(b[1], c), max(b[2], r), max(b[3], c)
        for root, (r0, c0, r1, c1) in bounds.items():
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    if find(owner[r][c]) != find(root):
                        parent[find(owner[r][c])] = find(root)
                        changed = True
    seen: dict[int, tuple[int, int, int, int]] = {}
    for r in range(rows):
        for c in range(cols):
            root = find(owner[r][c])
            if root not in seen:
                seen[root] = (r, c, 1, 1)
            r0, c0, _, _ = seen[root]
            seen[root] = (r0, c0, max(seen[root][2], r - r0 + 1), max(seen[root][3], c - c0 + 1))
    return sorted(seen.values())


class _Grid:
    """Words placed into a grid's cells, rendered as a ``Table``."""

    def __init__(self, xs: list[float], ys: list[float], regions: list[tuple[int, int, int, int]]):
        self.xs, self.ys, self.regions = xs, ys, regions
        self.at: dict[tuple[int, int], int] = {}
        for index, (r, c, rowspan, colspan) in enumerate(regions):
            for dr in range(rowspan):
                for dc in range(colspan):
                    self.at[(r + dr, c + dc)] = index
        self.words: list[list[Word]] = [[] for _ in regions]

    def column(self, x: float) -> int:
        return min(max(bisect_right(self.xs, x) - 1, 0), len(self.xs) - 2)

    def add(self, word: Word) -> None:
        row = min(max(bisect_right(self.ys, _cy(word)) - 1, 0), len(self.ys) - 2)
        self.words[self.at[(row, self.column(_cx(word)))]].append(word)

    def _split_rows(self, index: int) -> list[dict[int, str]] | None:
        """Text lines of a merged cell over several columns, when they are unruled rows."""
        r, c, rowspan, colspan = self.regions[index]
        if colspan < 2 or rowspan > 1 or not self.words[index]:
            return None
        lines = group_into_lines(self.words[index])
        rows = [self._line_cells(line) for line in lines]
        if not any(cells is not None and len(cells) >= 2 for cells in rows):
            return None
        if any(cells is None for cells in rows):
            return None
        return [cells for cells in rows if cells is not None]

    def _line_cells(self, line: Line) -> dict[int, str] | None:
        """The line's words by column; None when words of two columns are only a space apart."""
        by_column: dict[int, list[Word]] = {}
        for word in line.words:
            by_column.setdefault(self.column(_cx(word)), []).append(word)
        columns = sorted(by_column)
        wide = WIDE_GAP_CHARS * max(line.char_width, 1e-6)
        for a, b in zip(columns, columns[1:], strict=False):
            if by_column[b][0].box.x0 - by_column[a][-1].box.x1 <= wide:
                return None
        return {col: Line(ws).text for col, ws in by_column.items()}

    def table(self) -> Table | None:
        rows_count = len(self.ys) - 1
        split = {index: self._split_rows(index) for index in range(len(self.regions))}
        extra = [1] * rows_count
        for index, sub_rows in split.items():
            if sub_rows:
                extra[self.regions[index][0]] = max(extra[self.regions[index][0]], len(sub_rows))
        start = [0]
        for count in extra:
            start.append(start[-1] + count)
        width = len(self.xs) - 1
        rows = [[""] * width for _ in range(start[-1])]
        spans: dict[tuple[int, int], tuple[int, int]] = {}
        for index, (r, c, rowspan, colspan) in enumerate(self.regions):
            sub_rows = split[index]
            if sub_rows:
                for offset, cells in enumerate(sub_rows):
                    for col, text in cells.items():
                        rows[start[r] + offset][col] = text
                continue
            top, height = start[r], start[r + rowspan] - start[r]
            lines = group_into_lines(self.words[index])
            if len(lines) > MAX_CELL_LINES:
                return None
            rows[top][c] = " ".join(line.text for line in lines)
            if height > 1 or colspan > 1:
                spans[(top, c)] = (height, colspan)
        filled = sum(1 for row in rows for cell in row if cell)
        filled_rows = sum(1 for row in rows if any(row))
        filled_cols = sum(1 for col in range(width) if any(row[col] for row in rows))
        if filled < 3 or filled_rows < MIN_ROWS or filled_cols < MIN_COLUMNS:
            return None
        if not any(sum(1 for cell in row if cell) >= 2 for row in rows):
            return None  # stacked boxes of one text each (a form's title bands): text, not a table
        rows, spans = _without_empty_rows(rows, spans)
        if 2 * sum(1 for (r, c) in spans if rows[r][c]) > filled:
            return None  # mostly merged cells: boxes drawn around words or phrases, not a grid
        return Table(Box(self.xs[0], self.ys[0], self.xs[-1], self.ys[-1]), rows, spans)


def _without_empty_rows(rows: list[list[str]], spans: dict[tuple[int, int], tuple[int, int]]
                        ) -> tuple[list[list[str]], dict[tuple[int, int], tuple[int, int]]]:
    """Rows with no text dropped (the gap between a double rule, a bar over the table);
    a merged cell that reached into a dropped row gets shorter."""
    empty = [r for r, row in enumerate(rows) if not any(row)
             and not any(r0 < r < r0 + height for (r0, _), (height, _) in spans.items())]
    if not empty:
        return rows, spans
    drop = set(empty)
    shift = [sum(1 for e in empty if e < r) for r in range(len(rows) + 1)]
    kept_spans: dict[tuple[int, int], tuple[int, int]] = {}
    for (r, c), (height, width) in spans.items():
        if r in drop:
            continue
        new_height = height - sum(1 for e in empty if r < e < r + height)
        if new_height > 1 or width > 1:
            kept_spans[(r - shift[r], c)] = (new_height, width)
    return [row for r, row in enumerate(rows) if r not in drop], kept_spans
