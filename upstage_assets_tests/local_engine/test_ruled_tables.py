"""Ruled tables from the page's drawn lines and rectangles (issue 18): merged cells come out as
rowspan/colspan in HTML and repeated in Markdown, a boxed header row over an unruled body
gives one row per text line, stacked one-text boxes stay text."""

from __future__ import annotations

from typing import Any

from upstage_assets.local_engine.document_parse import parse_document
from upstage_assets_tests.local_engine import samples


def _text(pdf: Any, x: float, y: float, w: float, h: float, text: str) -> None:
    pdf.set_xy(x, y)
    pdf.cell(w, h, text, align="C")


def _tables(data: bytes) -> list[dict]:
    response = parse_document(data, mime_type="application/pdf")
    return [e for e in response["elements"] if e["category"] == "table"]


def _merged_cells_pdf(*, rectangles: bool) -> bytes:
    """A 4 x 4 grid: "Region" over two rows, "Sales" over two columns, "Total" over three.

    Drawn as separate lines (``rectangles=False``) or as one rectangle per cell.
    """
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 10)
    xs, ys = [20, 60, 100, 140, 180], [40, 50, 60, 70, 80]
    cells = [  # (row, col, rowspan, colspan, text)
        (0, 0, 2, 1, "Region"), (0, 1, 1, 2, "Sales"), (0, 3, 2, 1, "Staff"),
        (1, 1, 1, 1, "2023"), (1, 2, 1, 1, "2024"),
        (2, 0, 1, 1, "North"), (2, 1, 1, 1, "110"), (2, 2, 1, 1, "125"), (2, 3, 1, 1, "14"),
        (3, 0, 1, 3, "Total 235"), (3, 3, 1, 1, "29"),
    ]
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.3)
    for row, col, rowspan, colspan, text in cells:
        x0, y0, x1, y1 = xs[col], ys[row], xs[col + colspan], ys[row + rowspan]
        if rectangles:
            pdf.rect(x0, y0, x1 - x0, y1 - y0)
        else:
            pdf.line(x0, y0, x1, y0)
            pdf.line(x0, y1, x1, y1)
            pdf.line(x0, y0, x0, y1)
            pdf.line(x1, y0, x1, y1)
        _text(pdf, x0, y0, x1 - x0, y1 - y0, text)
    pdf.set_xy(20, 100)
    pdf.multi_cell(170, 5, samples.LOREM_LEFT)
    return bytes(pdf.output())


EXPECTED_HTML = ("<tr><td rowspan='2'>Region</td><td colspan='2'>Sales</td><td rowspan='2'>Staff</td></tr>"
                 "<tr><td>2023</td><td>2024</td></tr>"
                 "<tr><td>North</td><td>110</td><td>125</td><td>14</td></tr>"
                 "<tr><td colspan='3'>Total 235</td><td>29</td></tr>")


def test_ruled_lines_with_merged_cells_give_rowspan_and_colspan() -> None:
    tables = _tables(_merged_cells_pdf(rectangles=False))
    assert len(tables) == 1
    assert EXPECTED_HTML in tables[0]["content"]["html"]
    assert "Revenue grew" not in tables[0]["content"]["html"]


def test_cell_rectangles_with_merged_cells_give_rowspan_and_colspan() -> None:
    tables = _tables(_merged_cells_pdf(rectangles=True))
    assert len(tables) == 1
    assert EXPECTED_HTML in tables[0]["content"]["html"]


def test_markdown_repeats_a_merged_cell_in_every_position_it_covers() -> None:
    markdown = _tables(_merged_cells_pdf(rectangles=False))[0]["content"]["markdown"].splitlines()
    assert markdown[0] == "| Region | Sales | Sales | Staff |"
    assert markdown[2] == "| Region | 2023 | 2024 | Staff |"
    assert markdown[4] == "| Total 235 | Total 235 | Total 235 | 29 |"


def test_text_shows_a_merged_cell_once() -> None:
    text = _tables(_merged_cells_pdf(rectangles=False))[0]["content"]["text"]
    assert text.count("Sales") == 1 and text.count("Total 235") == 1


def test_boxed_header_over_an_unruled_body_gives_a_row_per_line() -> None:
    """The invoice shape: header cells boxed, the body framed but with no rules between its rows."""
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 10)
    xs = [20, 100, 130, 160, 190]
    for x0, x1, title in zip(xs, xs[1:], ("Description", "Qty", "Price", "Amount"), strict=False):
        pdf.rect(x0, 50, x1 - x0, 10)
        _text(pdf, x0, 50, x1 - x0, 10, title)
    pdf.line(20, 60, 20, 100)
    pdf.line(190, 60, 190, 100)
    pdf.line(20, 100, 190, 100)
    for i, (name, qty, price, amount) in enumerate((("Web hosting", "1", "9.00", "9.00"),
                                                    ("Domain renewal", "2", "12.50", "25.00"))):
        y = 64 + 8 * i
        for x0, x1, text in zip(xs, xs[1:], (name, qty, price, amount), strict=False):
            _text(pdf, x0, y, x1 - x0, 6, text)
    tables = _tables(bytes(pdf.output()))
    assert len(tables) == 1
    html = tables[0]["content"]["html"]
    assert "<tr><td>Description</td><td>Qty</td><td>Price</td><td>Amount</td></tr>" in html
    assert "<tr><td>Web hosting</td><td>1</td><td>9.00</td><td>9.00</td></tr>" in html
    assert "<tr><td>Domain renewal</td><td>2</td><td>12.50</td><td>25.00</td></tr>" in html
    assert "colspan" not in html


def test_rules_between_rows_with_open_sides_are_closed_by_the_rules_ends() -> None:
    """Horizontal rules between rows and one inner vertical rule: the outer sides are not drawn."""
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 10)
    rows = (("Category", "Shops"), ("Coffee", "Beanery, Roastery"), ("Bakery", "Crumbs"))
    for i, (category, shops) in enumerate(rows):
        y = 40 + 10 * i
        pdf.line(20, y, 180, y)
        pdf.line(60, y, 60, y + 10)
        _text(pdf, 20, y, 40, 10, category)
        _text(pdf, 60, y, 120, 10, shops)
    pdf.line(20, 70, 180, 70)
    tables = _tables(bytes(pdf.output()))
    assert len(tables) == 1
    html = tables[0]["content"]["html"]
    assert "<tr><td>Coffee</td><td>Beanery, Roastery</td></tr>" in html
    assert "<tr><td>Bakery</td><td>Crumbs</td></tr>" in html


def test_stacked_boxes_of_one_text_each_stay_text() -> None:
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 10)
    for i, text in enumerate(("Invoice 2024-118", "Date: 03/02/2024", "Customer number: 5521")):
        pdf.rect(20, 40 + 8 * i, 170, 8)
        pdf.set_xy(22, 40 + 8 * i)
        pdf.cell(100, 8, text)
    response = parse_document(bytes(pdf.output()), mime_type="application/pdf")
    assert not [e for e in response["elements"] if e["category"] == "table"]
    assert "Customer number: 5521" in response["content"]["text"]


def test_a_ruled_frame_around_columns_of_prose_is_not_a_table() -> None:
    """A newsletter page: a rule under the masthead and one between the two text columns."""
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 10)
    pdf.rect(15, 15, 180, 200)
    pdf.set_xy(20, 20)
    pdf.cell(170, 10, "The Weekly Ledger")
    pdf.line(15, 35, 195, 35)
    pdf.line(105, 35, 105, 215)
    for x, body in ((20, samples.LOREM_LEFT), (110, samples.LOREM_RIGHT)):
        pdf.set_xy(x, 40)
        pdf.multi_cell(80, 5, " ".join([body] * 3))
    response = parse_document(bytes(pdf.output()), mime_type="application/pdf")
    assert not [e for e in response["elements"] if e["category"] == "table"]
    assert "Revenue grew in every region" in response["content"]["text"]


def test_boxes_drawn_around_words_are_not_a_table() -> None:
    """Highlight boxes around each word (a proofreading or debugging overlay) touch each
    other along the line; their edges are not a table's grid."""
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 11)
    lines = ("This agreement states that both parties have the authority",
             "to enter into this binding agreement with each other today.")
    for row, line in enumerate(lines):
        x, y = 20.0, 40.0 + 7 * row
        for word in line.split():
            width = pdf.get_string_width(word) + 2
            pdf.rect(x, y, width, 6)
            pdf.set_xy(x, y)
            pdf.cell(width, 6, word, align="C")
            x += width
    response = parse_document(bytes(pdf.output()), mime_type="application/pdf")
    assert not [e for e in response["elements"] if e["category"] == "table"]
    assert "This agreement states that both parties" in response["content"]["text"]


def test_line_items_read_a_merged_cell_into_every_row_it_covers() -> None:
    """Line-item extraction reads the HTML a ruled table gives: a description merged over two
    rows belongs to both items."""
    from upstage_assets.local_engine.line_items import extract_line_items

    html = ("<table id='0'><tr><td>Description</td><td>Quantity</td><td>Amount</td></tr>"
            "<tr><td rowspan='2'>Cleaning</td><td>2</td><td>40.00</td></tr>"
            "<tr><td>1</td><td>25.00</td></tr></table>")
    response = {"elements": [{"category": "table", "content": {"html": html}}]}
    schema = {"properties": {"description": {"type": "string"}, "quantity": {"type": "number"},
                             "amount": {"type": "number"}}}
    items = extract_line_items(response, schema)
    assert [(i["description"], i["quantity"], i["amount"]) for i in items] == [
        ("Cleaning", 2, 40.0), ("Cleaning", 1, 25.0)]
