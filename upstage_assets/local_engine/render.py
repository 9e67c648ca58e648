"""HTML, Markdown and text for layout elements, in the shapes Document Parse returns.

Per element: ``<h1 id='0' style='font-size:22px'>``, ``<p id='3' data-category='paragraph'>``,
``<table id='5'>``, ``<header id='1'>``, ``<footer id='9'>``, ``<figure id='6'><img ...></figure>``.
Lines inside an element are ``<br>`` in HTML and newlines in Markdown and text; table
cells are joined by two spaces in text, rows by newlines. The document's content joins
elements with a newline (HTML, text) or a blank line (Markdown).

Merged table cells are ``rowspan``/``colspan`` in HTML. Markdown tables cannot merge
cells, so a merged cell's text is repeated in every position it covers: each Markdown
row then reads whole on its own (what a retrieval chunk needs), and expanding the HTML
spans gives the same grid. Text shows a merged cell once.
"""

from __future__ import annotations

import html
import re

from upstage_assets.local_engine.layout import Element

_MARKDOWN_BULLET = re.compile(r"^\s*[\u2022\u25cf\u25aa\u25e6\u2023\u2043\u00b7\u2013]\s*")


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def element_html(element: Element, element_id: int) -> str:
    category = element.category
    if category == "table":
        return _table_html(element.rows or [], element.spans, element_id)
    if category == "figure":
        alt = html.escape(element.text.replace("\n", " "), quote=True)
        return f"<figure id='{element_id}'><img alt='{alt}' /></figure>"
    body = "<br>".join(_escape(line) for line in element.lines)
    if category == "heading1":
        size = max(1, round(element.font_size))
        return f"<h1 id='{element_id}' style='font-size:{size}px'>{body}</h1>"
    if category in ("header", "footer"):
        return f"<{category} id='{element_id}'>{body}</{category}>"
    return f"<p id='{element_id}' data-category='{category}'>{body}</p>"


def _table_html(rows: list[list[str]], spans: dict[tuple[int, int], tuple[int, int]], element_id: int) -> str:
    covered = {(r + dr, c + dc) for (r, c), (rowspan, colspan) in spans.items()
               for dr in range(rowspan) for dc in range(colspan) if dr or dc}
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, cell in enumerate(row):
            if (r, c) in covered:
                continue
            rowspan, colspan = spans.get((r, c), (1, 1))
            attrs = (f" rowspan='{rowspan}'" if rowspan > 1 else "") + (f" colspan='{colspan}'" if colspan > 1 else "")
            cells.append(f"<td{attrs}>{_escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table id='{element_id}'>{''.join(body)}</table>"


def element_markdown(element: Element) -> str:
    category = element.category
    if category == "table":
        return _table_markdown(expanded_rows(element.rows or [], element.spans))
    if category == "figure":
        return "![image](/image/placeholder)"
    if category == "heading1":
        return "# " + " ".join(element.lines)
    if category == "list":
        return "\n".join(_MARKDOWN_BULLET.sub("- ", line) for line in element.lines)
    return "\n".join(element.lines)


def expanded_rows(rows: list[list[str]], spans: dict[tuple[int, int], tuple[int, int]]) -> list[list[str]]:
    """The table's grid with each merged cell's text repeated over the positions it covers."""
    grid = [list(row) for row in rows]
    for (r, c), (rowspan, colspan) in spans.items():
        for dr in range(rowspan):
            for dc in range(colspan):
                if r + dr < len(grid) and c + dc < len(grid[r + dr]):
                    grid[r + dr][c + dc] = rows[r][c]
    return grid


def _table_markdown(rows: list[list[str]]) -> str:
    if not rows:
        return ""

    def row_text(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    width = max(len(row) for row in rows)
    padded = [row + [""] * (width - len(row)) for row in rows]
    lines = [row_text(padded[0]), "| " + " | ".join(["---"] * width) + " |"]
    lines.extend(row_text(row) for row in padded[1:])
    return "\n".join(lines)


def element_content(element: Element, element_id: int, formats: tuple[str, ...]) -> dict[str, str]:
    """The element's content dict; formats that were not requested are empty strings."""
    return {
        "html": element_html(element, element_id) if "html" in formats else "",
        "markdown": element_markdown(element) if "markdown" in formats else "",
        "text": element.text if "text" in formats else "",
    }


# Running headers, footers and page numbers: elements of their own, but not part of the
# Markdown body a retrieval pipeline indexes (they would repeat on every chunk).
MARKDOWN_LEAVES_OUT = ("header", "footer")


def document_content(contents: list[dict[str, str]], formats: tuple[str, ...],
                     categories: list[str] | None = None,
                     markdown_leaves_out: tuple[str, ...] = MARKDOWN_LEAVES_OUT) -> dict[str, str]:
    """The document's html/markdown/text; ``categories`` (one per content) drive what Markdown omits."""
    def join(key: str, separator: str) -> str:
        if key not in formats:
            return ""
        picked = contents if key != "markdown" or categories is None else [
            content for content, category in zip(contents, categories, strict=True)
            if category not in markdown_leaves_out]
        return separator.join(content[key] for content in picked if content[key])

    return {"html": join("html", "\n"), "markdown": join("markdown", "\n\n"), "text": join("text", "\n")}
