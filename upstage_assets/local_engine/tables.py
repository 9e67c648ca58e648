"""Tables from aligned text: rows are lines, cells are the pieces between wide gaps.

A block is a table when several of its lines break into three or more pieces whose
horizontal spans line up into shared columns (item lists on invoices and receipts,
ruled and unruled tables in reports). Two-piece lines stay "label  value" text, which
is what key-value extraction wants.
"""

from __future__ import annotations

from upstage_assets.local_engine.geometry import WIDE_GAP_CHARS, Line, cut_at_gaps

MIN_TABLE_COLUMNS = 3
MIN_TABLE_ROWS = 2


def cells_of(line: Line) -> list[Line]:
    """Split a line at its wide visual gaps (the same gaps that read as two spaces)."""
    return cut_at_gaps(line, _wide_gap(line))


def cell_count(line: Line) -> int:
    """``len(cells_of(line))`` without building the cells."""
    wide = _wide_gap(line)
    return 1 + sum(1 for gap in line.gaps() if gap > wide)


def _wide_gap(line: Line) -> float:
    return WIDE_GAP_CHARS * max(line.char_width, 1e-6)


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
    """The block's cells as rows of column-aligned strings, or None when it is not a table.

    Columns come from the rows with the most cells (a header cell that spans two columns,
    "Population (millions) Area (km2)", does not fuse them); a cell over several columns
    is split between them word by word.
    """
    if len(lines) < MIN_TABLE_ROWS:
        return None
    # Counted before any cell is built: most blocks (paragraphs) stop here.
    wide_rows = sum(1 for line in lines if cell_count(line) >= MIN_TABLE_COLUMNS)
    # Lines of one or two cells between rows are a cell's second line, a group title:
    # they may outnumber the rows (an item with three lines of description each).
    if wide_rows < MIN_TABLE_ROWS or wide_rows < 0.25 * len(lines):
        return None
    rows = [cells_of(line) for line in lines]
    counts = [len(row) for row in rows if len(row) >= MIN_TABLE_COLUMNS]
    if len(counts) < 3 and len(set(counts)) > 1:
        return None  # two lines of different "cells": justified prose, not a table
    most = max(len(row) for row in rows)
    reference = [row for row in rows if len(row) == most]
    if len(reference) < 2:
        reference = [row for row in rows if len(row) >= MIN_TABLE_COLUMNS]
    columns = column_spans(reference)
    if len(columns) < MIN_TABLE_COLUMNS:
        return None
    # Justified prose also breaks into "cells" at its wide word gaps, but they do not line
    # up: its cells straddle the columns of any two of its lines.
    wide_cells = [cell for row in rows if len(row) >= MIN_TABLE_COLUMNS for cell in row]
    if sum(1 for cell in wide_cells if len(_covered(columns, cell)) > 1) > 0.3 * len(wide_cells):
        return None
    if not _columns_line_up(columns, [row for row in rows if len(row) >= MIN_TABLE_COLUMNS]):
        return None
    table: list[list[str]] = []
    for row in rows:
        cells = [""] * len(columns)
        for cell in row:
            for index, text in _placed(columns, cell):
                cells[index] = f"{cells[index]} {text}".strip()
        table.append(cells)
    return table


def _placed(columns: list[tuple[float, float]], cell: Line) -> list[tuple[int, str]]:
    """(column, text) pieces of a cell: whole, or word by word when it covers several columns."""
    covered = _covered(columns, cell)
    if len(covered) <= 1 or len(cell.words) == 1:
        return [(_column_index(columns, cell), cell.text)]
    pieces: dict[int, list[str]] = {}
    for word in cell.words:
        index = _column_index(columns, Line([word]))
        pieces.setdefault(index, []).append(word.text)
    return [(index, " ".join(texts)) for index, texts in sorted(pieces.items())]


def _columns_line_up(columns: list[tuple[float, float]], rows: list[list[Line]]) -> bool:
    """Most columns, and one inside column at least, have one edge (left, right or centre)
    shared by all their cells: justified prose lines up only at its margins."""
    tolerance = max(cell.box.height for row in rows for cell in row)
    by_column: dict[int, list[Line]] = {}
    for row in rows:
        for cell in row:
            by_column.setdefault(_column_index(columns, cell), []).append(cell)
    aligned = inside = 0
    last = max(by_column)
    for index, cells in by_column.items():
        if len(cells) < 2:
            continue
        edges = ([c.box.x0 for c in cells], [c.box.x1 for c in cells], [(c.box.x0 + c.box.x1) / 2 for c in cells])
        if any(max(values) - min(values) <= tolerance for values in edges):
            aligned += 1
            inside += 0 < index < last
    return inside >= 1 and aligned >= max(2, (len(by_column) + 1) // 2)


def _covered(columns: list[tuple[float, float]], cell: Line) -> list[int]:
    return [i for i, (start, end) in enumerate(columns) if min(end, cell.box.x1) - max(start, cell.box.x0) > 0]


def _column_index(columns: list[tuple[float, float]], cell: Line) -> int:
    best, best_overlap = 0, -float("inf")
    centre = (cell.box.x0 + cell.box.x1) / 2
    for index, (start, end) in enumerate(columns):
        overlap = min(end, cell.box.x1) - max(start, cell.box.x0)
        if overlap <= 0:  # outside every column: the nearest one by centre
            overlap = -min(abs(centre - start), abs(centre - end))
        if overlap > best_overlap:
            best, best_overlap = index, overlap
    return best
