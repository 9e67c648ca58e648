"""Layout on born-digital PDFs: categories, reading order, header/footer, tables, forms."""

from __future__ import annotations

from typing import Any

import pytest

from upstage_assets.local_engine.document_parse import parse_document
from upstage_assets.local_engine.geometry import Box, Line, PageContent, Word
from upstage_assets.local_engine.layout import layout_document


@pytest.fixture(scope="module")
def report(report_pdf: bytes) -> dict[str, Any]:
    return parse_document(report_pdf, mime_type="application/pdf")


@pytest.fixture(scope="module")
def invoice(invoice_pdf: bytes) -> dict[str, Any]:
    return parse_document(invoice_pdf, mime_type="application/pdf")


def _by_text(response: dict[str, Any], prefix: str) -> dict[str, Any]:
    matches = [e for e in response["elements"] if e["content"]["text"].startswith(prefix)]
    assert matches, f"no element starts with {prefix!r}"
    return matches[0]


def test_categories_on_the_report(report: dict[str, Any]) -> None:
    assert _by_text(report, "Annual Summary")["category"] == "heading1"
    assert _by_text(report, "Outlook")["category"] == "heading1"
    assert _by_text(report, "Revenue grew in every region during the quarter")["category"] == "paragraph"
    assert _by_text(report, "\u2022 Open the new warehouse")["category"] == "list"
    assert _by_text(report, "Item")["category"] == "table"


def test_multi_line_paragraph_joins_lines_with_newlines(report: dict[str, Any]) -> None:
    paragraph = _by_text(report, "Revenue grew in every region during the quarter")
    lines = paragraph["content"]["text"].split("\n")
    assert len(lines) >= 4
    assert lines[-1].endswith("before the summer season begins.")


def test_repeated_header_and_page_number_footer(report: dict[str, Any]) -> None:
    headers = [e for e in report["elements"] if e["category"] == "header"]
    footers = [e for e in report["elements"] if e["category"] == "footer"]
    assert [(e["page"], e["content"]["text"]) for e in headers] == [
        (1, "ACME Holdings - Quarterly Report"), (2, "ACME Holdings - Quarterly Report")]
    assert [(e["page"], e["content"]["text"]) for e in footers] == [(1, "Page 1 of 2"), (2, "Page 2 of 2")]
    # Per page: header first, footer last.
    for page in (1, 2):
        on_page = [e for e in report["elements"] if e["page"] == page]
        assert on_page[0]["category"] == "header" and on_page[-1]["category"] == "footer"


def test_two_columns_read_left_column_first(report: dict[str, Any]) -> None:
    page2 = [e for e in report["elements"] if e["page"] == 2 and e["category"] == "paragraph"]
    assert len(page2) == 2
    left, right = page2
    assert left["content"]["text"].startswith("Revenue grew in every region during")
    assert right["content"]["text"].startswith("Risks remain in the supply")
    assert left["coordinates"][1]["x"] < right["coordinates"][0]["x"]  # left column ends before right starts
    assert "Risks" not in left["content"]["text"]


def test_table_rows_and_cells(report: dict[str, Any]) -> None:
    table = _by_text(report, "Item")
    html = table["content"]["html"]
    assert html.startswith(f"<table id='{table['id']}'>")
    assert "<tr><td>Item</td><td>Quantity</td><td>Price</td></tr>" in html
    assert "<tr><td>Ink</td><td>3</td><td>19.99</td></tr>" in html
    assert table["content"]["markdown"].splitlines()[:3] == [
        "| Item | Quantity | Price |", "| --- | --- | --- |", "| Paper | 12 | 4.50 |"]
    assert table["content"]["text"].splitlines()[1] == "Paper  12  4.50"


def test_ids_are_reading_order_and_coordinates_are_valid(report: dict[str, Any]) -> None:
    elements = report["elements"]
    assert [e["id"] for e in elements] == list(range(len(elements)))
    assert [e["page"] for e in elements] == sorted(e["page"] for e in elements)
    for element in elements:
        tl, tr, br, bl = element["coordinates"]
        for point in (tl, tr, br, bl):
            assert 0.0 <= point["x"] <= 1.0 and 0.0 <= point["y"] <= 1.0
        assert tl["x"] < tr["x"] and tl["y"] == tr["y"]
        assert br["x"] == tr["x"] and br["y"] > tr["y"]
        assert bl["x"] == tl["x"] and bl["y"] == br["y"]


def test_invoice_keeps_labels_with_values_and_blocks_apart(invoice: dict[str, Any]) -> None:
    texts = [e["content"]["text"] for e in invoice["elements"]]
    assert texts[0] == "INVOICE" and invoice["elements"][0]["category"] == "heading1"
    assert "Northwind Traders Ltd\n12 Harbour Road\nSpringfield 4021" in texts
    assert "Invoice No:  2024-0113\nDate:  2024-03-05\nDue:  2024-04-05" in texts
    assert "TOTAL  9.00" in texts
    # The address block (left) comes before the invoice facts (right) in reading order.
    assert texts.index("Northwind Traders Ltd\n12 Harbour Road\nSpringfield 4021") < texts.index(
        "Invoice No:  2024-0113\nDate:  2024-03-05\nDue:  2024-04-05")


def _line(text: str, x: float, y: float, size: float = 10.0) -> Line:
    words, cursor = [], x
    for token in text.split():
        width = 6.0 * len(token)
        words.append(Word(token, Box(cursor, y, cursor + width, y + size), font_size=size))
        cursor += width + 3.0
    return Line(words)


def test_receipt_item_lines_form_a_table_and_totals_stay_key_value() -> None:
    lines = [_line("COFFEE", 10, 100), _line("2", 200, 100), _line("3.50", 260, 100), _line("7.00", 330, 100),
             _line("BAGEL", 10, 114), _line("1", 200, 114), _line("2.00", 260, 114), _line("2.00", 330, 114),
             _line("TOTAL", 10, 150), _line("9.00", 330, 150)]
    merged = _merge_same_baseline(lines)
    page = PageContent(number=1, width=400, height=400, lines=merged, source="ocr")
    elements = layout_document([page])
    assert [e.category for e in elements] == ["table", "paragraph"]
    assert elements[0].rows == [["COFFEE", "2", "3.50", "7.00"], ["BAGEL", "1", "2.00", "2.00"]]
    assert elements[1].text == "TOTAL  9.00"


def _merge_same_baseline(lines: list[Line]) -> list[Line]:
    rows: dict[float, list[Word]] = {}
    for line in lines:
        rows.setdefault(line.box.y0, []).extend(line.words)
    return [Line(words) for words in rows.values()]
