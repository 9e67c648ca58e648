"""Line items from the tables of a Document Parse response.

A table's header row is matched to the item schema's properties by name, description and
common synonyms; each later row becomes one item with values read by type. Rows that are
totals rather than items (subtotal, tax, total) are left out.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from upstage_assets.local_engine.field_matching import document_lines
from upstage_assets.local_engine.normalize import parse_amount, parse_date

COLUMN_SYNONYMS = {
    "description": ["description", "item", "items", "product", "service", "details", "particulars", "name", "품목"],
    "quantity": ["qty", "quantity", "units", "hours", "count", "수량"],
    "unit_price": ["unit price", "price", "rate", "unit cost", "each", "단가"],
    "amount": ["amount", "line total", "total", "subtotal", "value", "금액"],
}
SUMMARY_ROWS = re.compile(r"^\s*(sub\s*total|total|tax|vat|gst|discount|shipping|balance|amount due|합계)\b",
                          re.IGNORECASE)


class _TableParser(HTMLParser):
    """Rows of <td>/<th> texts with each cell's (rowspan, colspan)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, int, int]]] = []
        self._cell: list[str] | None = None
        self._span = (1, 1)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
            values = dict(attrs)
            self._span = (_span(values.get("rowspan")), _span(values.get("colspan")))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append((" ".join("".join(self._cell).split()), *self._span))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _span(value: str | None) -> int:
    return int(value) if value and value.isdigit() and 0 < int(value) <= 1000 else 1


def table_rows(html: str) -> list[list[str]]:
    """The table's rows, a merged cell's text repeated in every position it covers."""
    parser = _TableParser()
    parser.feed(html)
    return [row for row in span_grid(parser.rows) if any(cell for cell in row)]


def span_grid(rows: list[list[tuple[str, int, int]]]) -> list[list[str]]:
    """Rows of (text, rowspan, colspan) cells on a grid, as HTML places them: each cell takes the
    next free column of its row, and its text fills every position it spans (within the rows)."""
    grid: dict[tuple[int, int], str] = {}
    for r, row in enumerate(rows):
        c = 0
        for text, rowspan, colspan in row:
            while (r, c) in grid:
                c += 1
            for dr in range(rowspan):
                for dc in range(colspan):
                    grid.setdefault((r + dr, c + dc), text)
            c += colspan
    width = max((c for _, c in grid), default=-1) + 1
    return [[grid.get((r, c), "") for c in range(width)] for r in range(len(rows))]


def _column_for(header: str, properties: dict[str, Any]) -> str | None:
    norm = header.casefold().strip(" :")
    best, best_len = None, 0
    for name, prop in properties.items():
        hints = [name.replace("_", " "), *COLUMN_SYNONYMS.get(name, [])]
        description = (prop.get("description") or "").casefold()
        if description:
            hints.append(description)
        for hint in hints:
            if hint and (norm == hint or norm.startswith(hint) or (len(norm) > 2 and norm in hint)) and len(hint) > best_len:
                best, best_len = name, len(hint)
    return best


def _read(prop: dict[str, Any], name: str, text: str) -> Any:
    if prop.get("type") in ("number", "integer"):
        value = parse_amount(text)
        if value is not None and prop.get("type") == "integer":
            return int(value) if value == int(value) else None
        return value
    if prop.get("format") == "date" or "date" in name:
        return parse_date(text)
    return text or None


def _tables_from_elements(parse_response: dict[str, Any]) -> list[list[list[str]]]:
    return [table_rows((e.get("content") or {}).get("html") or "")
            for e in parse_response.get("elements", []) if e.get("category") == "table"]


def _tables_from_lines(parse_response: dict[str, Any], properties: dict[str, Any]) -> list[list[list[str]]]:
    """Tables printed without rules: a header line naming two or more columns, then aligned rows."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in document_lines(parse_response):
        cells = [segment.text for segment in line]
        if current is None:
            if len(cells) >= 2 and sum(_column_for(c, properties) is not None for c in cells) >= 2:
                current = [cells]
            continue
        if len(cells) >= 2 and not SUMMARY_ROWS.match(cells[0]):
            current.append(cells)
            continue
        tables.append(current)
        current = None
    if current:
        tables.append(current)
    return tables


def _items(rows: list[list[str]], properties: dict[str, Any]) -> list[dict[str, Any]]:
    if len(rows) < 2:
        return []
    columns = [_column_for(cell, properties) for cell in rows[0]]
    if sum(c is not None for c in columns) < 2:
        return []
    items = []
    for row in rows[1:]:
        if not row or SUMMARY_ROWS.match(row[0] or ""):
            continue
        item: dict[str, Any] = {name: None for name in properties}
        for column, cell in zip(columns, row, strict=False):
            if column is not None and cell:
                item[column] = _read(properties[column], column, cell)
        if sum(v is not None for v in item.values()) >= 2:
            items.append(item)
    return items


def extract_line_items(parse_response: dict[str, Any], item_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Items from ruled tables first; from aligned text rows when there are none."""
    properties: dict[str, Any] = item_schema.get("properties", {})
    if not properties:
        return []
    items = [i for rows in _tables_from_elements(parse_response) for i in _items(rows, properties)]
    if items:
        return items
    return [i for rows in _tables_from_lines(parse_response, properties) for i in _items(rows, properties)]
