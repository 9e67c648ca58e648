"""Where tables are on a page: runs of aligned rows cut out of blocks, split rows joined.

Blocks grow from vertical closeness, which does not follow table edges: an invoice's
line-item table shares a block with its title and the text under it, and a table with
roomy rows falls apart into one block per row (its header alone, its rows alone). Here a
block is cut around its run of table rows (three or more cells, lines of fewer cells in
between kept as rows of their own), and table runs stacked close under each other with
the same columns become one table.
"""

from __future__ import annotations

from upstage_assets.local_engine.geometry import Line
from upstage_assets.local_engine.tables import MIN_TABLE_COLUMNS, cell_count, cells_of, table_rows

# Lines of fewer cells between two table rows that still belong to the table.
MAX_INNER_LINES = 6
# Table runs further apart than this many line heights stay separate tables.
MERGE_GAP_HEIGHTS = 2.5


def _is_row(line: Line) -> bool:
    return len(line.words) >= MIN_TABLE_COLUMNS and cell_count(line) >= MIN_TABLE_COLUMNS


def split_table_runs(blocks: list[list[Line]]) -> list[list[Line]]:
    """Each block cut into (text before, table run, text after) where it holds a table run."""
    out: list[list[Line]] = []
    for lines in blocks:
        rows = [i for i, line in enumerate(lines) if _is_row(line)]
        run = _longest_run(rows)
        if run is None or (run[0] == 0 and run[1] == len(lines)):
            out.append(lines)
            continue
        start, end = run
        end = _with_trailing_rows(lines, start, end)
        if table_rows(lines[start:end]) is None:
            out.append(lines)
            continue
        out.extend(piece for piece in (lines[:start], lines[start:end], lines[end:]) if piece)
    return out


def _longest_run(rows: list[int]) -> tuple[int, int] | None:
    """[start, end) of the longest run of row indices no more than MAX_INNER_LINES apart (two rows or more)."""
    best: tuple[int, int] | None = None
    start = 0
    for k in range(1, len(rows) + 1):
        if k == len(rows) or rows[k] - rows[k - 1] > MAX_INNER_LINES + 1:
            if k - start >= 2 and (best is None or rows[k - 1] - rows[start] > best[1] - best[0] - 1):
                best = (rows[start], rows[k - 1] + 1)
            start = k
    return best


def _with_trailing_rows(lines: list[Line], start: int, end: int) -> int:
    """Extend the run over short lines under its last row that start inside its first column."""
    first_column_end = min(cells_of(line)[0].box.x1 for line in lines[start:end] if _is_row(line))
    left = min(line.box.x0 for line in lines[start:end])
    height = max(line.box.height for line in lines[start:end])
    extra = 0
    while end < len(lines) and extra < MAX_INNER_LINES:
        line = lines[end]
        if not (left - height <= line.box.x0 <= first_column_end) or cell_count(line) > 1:
            break
        end += 1
        extra += 1
    return end


def merge_stacked_tables(blocks: list[list[Line]]) -> list[list[Line]]:
    """Table runs (and a lone header row) stacked under each other with shared columns: one table."""
    ordered = sorted(blocks, key=lambda lines: (lines[0].box.y0, lines[0].box.x0))
    merged: list[list[Line]] = []
    for lines in ordered:
        target = _table_above(merged, lines)
        if target is not None:
            target.extend(lines)
        else:
            merged.append(list(lines))
    return merged


def _table_like(lines: list[Line]) -> bool:
    return sum(1 for line in lines if _is_row(line)) >= max(1, len(lines) // 3)


def _table_above(blocks: list[list[Line]], lines: list[Line]) -> list[Line] | None:
    if not _table_like(lines):
        return None
    top = lines[0].box
    for candidate in reversed(blocks):
        last = candidate[-1].box
        gap = top.y0 - last.y1
        height = max(top.height, last.height)
        if gap < -0.3 * height or gap > MERGE_GAP_HEIGHTS * height:
            continue
        if top.horizontal_overlap(last) < 0.5 or not _table_like(candidate):
            continue
        if _shared_columns(candidate, lines):
            return candidate
    return None


def _shared_columns(upper: list[Line], lower: list[Line]) -> bool:
    """At least two cell edges (left, right or centre) of the nearest rows line up."""
    above = next((line for line in reversed(upper) if _is_row(line)), None)
    below = next((line for line in lower if _is_row(line)), None)
    if above is None or below is None:
        return False
    above_cells, below_cells = cells_of(above), cells_of(below)
    if abs(len(above_cells) - len(below_cells)) > 1:
        return False  # a row of "label: value" facts over a line-item table
    tolerance = max(above.box.height, below.box.height)
    matches = 0
    for a in above_cells:
        for b in below_cells:
            if min(abs(a.box.x0 - b.box.x0), abs(a.box.x1 - b.box.x1),
                   abs((a.box.x0 + a.box.x1) - (b.box.x0 + b.box.x1)) / 2) <= tolerance:
                matches += 1
                break
    return matches >= 2
