"""Tables from aligned text: rows are lines, cells are the pieces between wide gaps.

A block is a table when several of its lines break into three or more pieces whose
horizontal spans line up into shared columns (item lists on invoices and receipts,
ruled and unruled tables in reports). Two-piece lines stay "label  value" text, which
is what key-value extraction wants.
"""

from __future__ import annotations

from upstage_assets.local_engine.geometry import WIDE_GAP_CHARS, Line, Word

MIN_TABLE_COLUMNS = 3
MIN_TABLE_ROWS = 2


def cells_of(line: Line) -> list[Line]:
    """Split a line at its wide visual gaps (the same gaps that read as two spaces)."""
    wide = WIDE_GAP_CHARS * max(line.char_width, 1e-6)
    pieces: list[list[Word]] = [[line.words[0]]]
    for gap, word in zip(line.gaps(), line.words[1:], strict=False):
        if gap > wide:
            pieces.append([word])
        else:
            pieces[-1].append(word)
    return [Line(piece) for piece in pieces]


def column_spans(rows: list[list[Line]]) -> list[tuple[float, float]]:
    """Merge the horizontal spans of all cells into non-overlapping column spans."""
    spans = sorted((cell.box.x0, cell.box.x1) for row in rows for cell in row)
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def table_rows(lines: list[Line]) -> list[list[str]] | None:
    """The block's cells as rows of column-aligned strings, or None when it is not a table."""
    if len(lines) < MIN_TABLE_ROWS:
        return None
    rows = [cells_of(line) for line in lines]
    wide_rows = sum(1 for row in rows if len(row) >= MIN_TABLE_COLUMNS)
    multi_rows = sum(1 for row in rows if len(row) >= 2)
    if wide_rows < MIN_TABLE_ROWS or multi_rows < 0.6 * len(rows):
        return None
    # Single-piece lines (titles, wrapped text) would bridge the columns: leave them out.
    columns = column_spans([row for row in rows if len(row) >= 2])
    if len(columns) < MIN_TABLE_COLUMNS:
        return None
    table: list[list[str]] = []
    for row in rows:
        cells = [""] * len(columns)
        for cell in row:
            index = _column_index(columns, cell)
            cells[index] = f"{cells[index]} {cell.text}".strip()
        table.append(cells)
    return table


def _column_index(columns: list[tuple[float, float]], cell: Line) -> int:
    best, best_overlap = 0, -1.0
    for index, (start, end) in enumerate(columns):
        overlap = min(end, cell.box.x1) - max(start, cell.box.x0)
        if overlap > best_overlap:
            best, best_overlap = index, overlap
    return best
