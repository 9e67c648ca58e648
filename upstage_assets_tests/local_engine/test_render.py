"""The exact HTML/Markdown/text shapes of each element category."""

from __future__ import annotations

from upstage_assets.local_engine.geometry import Box
from upstage_assets.local_engine.layout import Element
from upstage_assets.local_engine.render import document_content, element_content


def _element(category: str, lines: list[str], rows: list[list[str]] | None = None) -> Element:
    return Element(category, 1, Box(10, 10, 50, 20), 100, 100, lines=lines, rows=rows, font_size=22.0)


FORMATS = ("html", "markdown", "text")


def test_heading_paragraph_header_footer_shapes() -> None:
    assert element_content(_element("heading1", ["INVOICE"]), 0, FORMATS) == {
        "html": "<h1 id='0' style='font-size:22px'>INVOICE</h1>", "markdown": "# INVOICE", "text": "INVOICE"}
    assert element_content(_element("paragraph", ["a < b", "c & d"]), 3, FORMATS) == {
        "html": "<p id='3' data-category='paragraph'>a &lt; b<br>c &amp; d</p>",
        "markdown": "a < b\nc & d", "text": "a < b\nc & d"}
    assert element_content(_element("header", ["ACME"]), 1, FORMATS)["html"] == "<header id='1'>ACME</header>"
    assert element_content(_element("footer", ["Page 1"]), 9, FORMATS)["html"] == "<footer id='9'>Page 1</footer>"
    assert element_content(_element("list", ["\u2022 one", "\u2022 two"]), 4, FORMATS)["markdown"] == "- one\n- two"


def test_table_shapes() -> None:
    table = _element("table", [], rows=[["Item", "Qty"], ["Pen|blue", "2"]])
    content = element_content(table, 5, FORMATS)
    assert content["html"] == "<table id='5'><tr><td>Item</td><td>Qty</td></tr><tr><td>Pen|blue</td><td>2</td></tr></table>"
    assert content["markdown"] == "| Item | Qty |\n| --- | --- |\n| Pen\\|blue | 2 |"
    assert content["text"] == "Item  Qty\nPen|blue  2"


def test_unrequested_formats_are_empty_strings() -> None:
    content = element_content(_element("paragraph", ["x"]), 0, ("text",))
    assert content == {"html": "", "markdown": "", "text": "x"}
    document = document_content([content, element_content(_element("paragraph", ["y"]), 1, ("text",))], ("text",))
    assert document == {"html": "", "markdown": "", "text": "x\ny"}
