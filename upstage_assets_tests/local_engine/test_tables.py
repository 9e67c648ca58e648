"""Tables a retrieval user would accept (issue 18): line items with description lines under
them, a header row apart from its rows, a header cell over two columns, prose not a table."""

from __future__ import annotations

from typing import Any

from upstage_assets.local_engine.document_parse import parse_document
from upstage_assets_tests.local_engine import samples


def _put(pdf: Any, x: float, y: float, text: str) -> None:
    pdf.set_xy(x, y)
    pdf.cell(0, 6, text)


def _tables(data: bytes) -> list[dict]:
    response = parse_document(data, mime_type="application/pdf")
    return [e for e in response["elements"] if e["category"] == "table"]


def test_line_items_with_description_lines_and_a_distant_header_are_one_table() -> None:
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 11)
    for x, text in ((20, "Item"), (110, "Quantity"), (140, "Rate"), (170, "Amount")):
        _put(pdf, x, 60, text)
    pdf.set_font("DejaVu", "", 10)
    y = 72.0
    for name, qty, rate, amount in (("Service A", "12", "$10.00", "$120.00"), ("Service B", "5", "$1.50", "$7.50")):
        for x, text in ((20, name), (113, qty), (140, rate), (170, amount)):
            _put(pdf, x, y, text)
        for detail in ("Description: Repair", "Notes: Replaced capacitor"):
            y += 5
            _put(pdf, 20, y, detail)
        y += 10
    pdf.set_xy(20, y + 20)
    pdf.multi_cell(170, 5, samples.LOREM_LEFT)
    tables = _tables(bytes(pdf.output()))
    assert len(tables) == 1
    html = tables[0]["content"]["html"]
    assert "<td>Item</td><td>Quantity</td><td>Rate</td><td>Amount</td>" in html
    assert "<td>Service A</td><td>12</td><td>$10.00</td><td>$120.00</td>" in html
    assert "<td>Description: Repair</td><td></td><td></td><td></td>" in html
    assert "Revenue grew" not in html


def test_header_cell_over_two_columns_does_not_fuse_them() -> None:
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 10)
    _put(pdf, 20, 30, "Table 1: Countries")
    header = ((20, "Country"), (60, "Population (millions) Area (km2)"), (130, "Capital"))
    for x, text in header:
        _put(pdf, x, 40, text)
    for i, (country, people, area, capital) in enumerate((("Austria", "8.9", "83,879", "Vienna"),
                                                          ("Belgium", "11.5", "30,689", "Brussels"),
                                                          ("Denmark", "5.8", "42,951", "Copenhagen"))):
        for x, text in ((20, country), (65, people), (105, area), (130, capital)):
            _put(pdf, x, 47 + 7 * i, text)
    tables = _tables(bytes(pdf.output()))
    assert len(tables) == 1
    markdown = tables[0]["content"]["markdown"]
    assert "| Austria | 8.9 | 83,879 | Vienna |" in markdown
    assert "Table 1: Countries" not in markdown  # the title line stays outside the table


def test_justified_prose_is_not_a_table() -> None:
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 10)
    pdf.set_xy(20, 40)
    pdf.multi_cell(60, 5, samples.LOREM_LEFT + " " + samples.LOREM_RIGHT, align="J")
    assert _tables(bytes(pdf.output())) == []
