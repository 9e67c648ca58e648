"""From lines to layout elements: blocks, categories, header/footer, reading order.

Blocks grow downwards from line pieces (lines cut only at column gutters, see
``columns``) that overlap horizontally and keep the font size. A label and its value on
one baseline stay one line ("Invoice Number:  42183017"), so forms stay fine-grained for
key-value extraction, while a two-column article is read column by column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from upstage_assets.local_engine.columns import line_pieces
from upstage_assets.local_engine.geometry import (
    Box,
    Line,
    PageContent,
    body_font_size,
    union_all,
)
from upstage_assets.local_engine.reading_order import reading_order
from upstage_assets.local_engine.ruled_tables import Table, ruled_tables
from upstage_assets.local_engine.table_regions import merge_stacked_tables, split_table_runs
from upstage_assets.local_engine.tables import table_rows

# Lines further apart than this many line heights start a new block (a blank line).
BLOCK_GAP_HEIGHTS = 0.9
# Header/footer candidates live in this top/bottom share of the page.
MARGIN_SHARE = 0.1
HEADING_RATIO_TEXT_LAYER = 1.15
HEADING_RATIO_OCR = 1.35

_BULLET = re.compile(r"^\s*([\u2022\u25cf\u25aa\u25e6\u2023\u2043\u00b7\-\*\u2013]\s|\(?\d{1,2}[.)]\s|\(?[a-z][.)]\s)")
_CAPTION = re.compile(r"^\s*(figure|fig\.|table|chart)\s*\d+", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^\s*((page|seite|pagina|página|p\.)\s*:?\s*)?[-\u2013]?\s*(\d{1,4}|[ivxlc]{1,6})\s*"
                          r"((of|/|von|de|sur)\s*\d{1,4})?\s*[-\u2013]?\s*$", re.IGNORECASE)
# A margin line that ends with "Page 3/7" or "page 3 of 7" is a running footer or header.
_ENDS_WITH_PAGE_OF = re.compile(r"\b(page|seite|pagina|página)\s*:?\s*\d{1,4}\s*(of|/|von|de|sur)\s*\d{1,4}\s*$",
                                re.IGNORECASE)
_OCR_HYPHEN_BREAK = re.compile(r"[^\W\d_]-$")


@dataclass
class Element:
    """One layout element in page units; ``rows`` is set for tables.

    A merged table cell keeps its text at its top-left position of ``rows`` ("" where
    it continues) and its (rowspan, colspan) in ``spans`` under that position.
    """

    category: str
    page: int
    box: Box
    page_width: float
    page_height: float
    lines: list[str] = field(default_factory=list)
    rows: list[list[str]] | None = None
    font_size: float = 0.0
    spans: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        if self.rows is not None:
            return "\n".join("  ".join(cell for cell in row if cell) for row in self.rows)
        return "\n".join(self.lines)

    def relative_coordinates(self) -> list[dict[str, float]]:
        """TL, TR, BR, BL corners relative to the page (0..1), four decimals like the API."""
        def clamp(value: float) -> float:
            return round(min(1.0, max(0.0, value)), 4)

        x0, x1 = clamp(self.box.x0 / self.page_width), clamp(self.box.x1 / self.page_width)
        y0, y1 = clamp(self.box.y0 / self.page_height), clamp(self.box.y1 / self.page_height)
        return [{"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}, {"x": x0, "y": y1}]


@dataclass
class _Block:
    lines: list[Line]

    @property
    def box(self) -> Box:
        return union_all([line.box for line in self.lines])

    @property
    def font_size(self) -> float:
        sizes = sorted(line.font_size for line in self.lines)
        return sizes[len(sizes) // 2]

    def words_per_line(self) -> float:
        return sum(len(line.words) for line in self.lines) / len(self.lines)


def layout_document(pages: list[PageContent]) -> list[Element]:
    """Elements of every page in reading order (page by page).

    Ruled tables are cut out first (their grid decides their cells); the rest of each
    page's text is laid out from its lines.
    """
    tables: list[list[Table]] = []
    rest: list[PageContent] = []
    for page in pages:
        found, lines = ruled_tables(page.lines, page.rules) if page.rules else ([], page.lines)
        tables.append(found)
        rest.append(replace(page, lines=lines) if found else page)
    pages = rest
    page_blocks = [_page_blocks(page) for page in pages]
    repeated = _repeated_margin_texts(pages, page_blocks)
    body = {source: body_font_size([line for page, blocks in zip(pages, page_blocks, strict=True)
                                    if page.source == source for block in blocks for line in block.lines])
            for source in {page.source for page in pages}}
    elements: list[Element] = []
    for page, blocks, found in zip(pages, page_blocks, tables, strict=True):
        elements.extend(_page_elements(page, blocks, repeated, body[page.source], found))
    if repeated and all(e.category in ("header", "footer") for e in elements):
        # Every text repeats in the margins (a short page copied, or turned, on every page):
        # a running header needs a body to run over, so here the repeats are the body.
        elements = [element for page, blocks, found in zip(pages, page_blocks, tables, strict=True)
                    for element in _page_elements(page, blocks, set(), body[page.source], found)]
    return elements


def _page_blocks(page: PageContent) -> list[_Block]:
    blocks = [block.lines for block in _grow_blocks(line_pieces(page.lines))]
    return [_Block(lines) for lines in merge_stacked_tables(split_table_runs(blocks))]


def _grow_blocks(fragments: list[Line]) -> list[_Block]:
    """Attach each fragment to the block just above it that it overlaps horizontally."""
    blocks: list[_Block] = []
    # Blocks no later fragment can join: fragments come top down, so a block's gap to them
    # only grows, and a gap over BLOCK_GAP_HEIGHTS of the tallest fragment stays too wide.
    open_blocks: list[_Block] = []
    tallest = max((fragment.box.height for fragment in fragments), default=0.0)
    for fragment in sorted(fragments, key=lambda f: (f.box.y0, f.box.x0)):
        best: _Block | None = None
        best_gap = float("inf")
        open_blocks = [block for block in open_blocks if not _closed(block, fragment.box.y0, tallest)]
        for block in open_blocks:
            last = block.lines[-1]
            gap = fragment.box.y0 - last.box.y1
            height = max(fragment.box.height, last.box.height)
            if gap < -0.3 * height or gap > BLOCK_GAP_HEIGHTS * height:
                continue
            if fragment.box.vertical_overlap(last.box) > 0.5:
                continue  # same baseline: side-by-side merging decides later
            if last.box.horizontal_overlap(fragment.box) <= 0 and abs(last.box.x0 - fragment.box.x0) > height:
                continue
            ratio = max(fragment.font_size, last.font_size) / max(min(fragment.font_size, last.font_size), 1e-6)
            if ratio > 1.2:
                continue
            if gap < best_gap:
                best, best_gap = block, gap
        if best is None:
            blocks.append(_Block([fragment]))
            open_blocks.append(blocks[-1])
        else:
            best.lines.append(fragment)
    return blocks


def _closed(block: _Block, top: float, tallest: float) -> bool:
    last = block.lines[-1].box
    return top - last.y1 > BLOCK_GAP_HEIGHTS * max(tallest, last.height)


def _normalise(text: str) -> str:
    return re.sub(r"\d+", "#", text.strip().lower())


def _in_margin(box: Box, page: PageContent) -> str | None:
    if box.y1 <= page.height * MARGIN_SHARE:
        return "header"
    if box.y0 >= page.height * (1 - MARGIN_SHARE):
        return "footer"
    return None


def _repeated_margin_texts(pages: list[PageContent], page_blocks: list[list[_Block]]) -> set[str]:
    """Margin texts seen on at least two pages (page numbers normalised away)."""
    if len(pages) < 2:
        return set()
    seen: dict[str, set[int]] = {}
    for page, blocks in zip(pages, page_blocks, strict=True):
        for block in blocks:
            if _in_margin(block.box, page):
                key = _normalise(" ".join(line.text for line in block.lines))
                seen.setdefault(key, set()).add(page.number)
    return {key for key, numbers in seen.items() if len(numbers) >= 2}


def _page_elements(page: PageContent, blocks: list[_Block], repeated: set[str], body: float,
                   tables: list[Table]) -> list[Element]:
    heading_ratio = HEADING_RATIO_OCR if page.source == "ocr" else HEADING_RATIO_TEXT_LAYER
    elements = [_block_element(page, block, body, heading_ratio, repeated) for block in blocks]
    for table in tables:
        elements.append(Element("table", page.number, table.box, page.width, page.height,
                                rows=table.rows, spans=table.spans))
    for box in page.figures:
        elements.append(Element("figure", page.number, box, page.width, page.height))
    _mark_outermost_page_numbers(elements)
    gutter = 0.01 * page.width
    headers = [e for e in elements if e.category == "header"]
    footers = [e for e in elements if e.category == "footer"]
    body_elements = [e for e in elements if e.category not in ("header", "footer")]

    def order(items: list[Element]) -> list[Element]:
        return reading_order(items, lambda element: element.box, min_gutter=gutter)

    return order(headers) + order(body_elements) + order(footers)


def _mark_outermost_page_numbers(elements: list[Element]) -> None:
    """A lone page number below (above) everything else on the page is a footer (header),
    wherever the page's margins are (LaTeX puts it well above the bottom tenth)."""
    for element in elements:
        if element.category != "paragraph" or len(element.lines) != 1 or not _PAGE_NUMBER.match(element.lines[0]):
            continue
        others = [e.box for e in elements if e is not element]
        if all(box.y1 <= element.box.y0 for box in others):
            element.category = "footer"
        elif all(box.y0 >= element.box.y1 for box in others):
            element.category = "header"


def _block_element(page: PageContent, block: _Block, body: float, heading_ratio: float,
                   repeated: set[str]) -> Element:
    texts = join_hyphenated(block.lines, ocr=page.source == "ocr")
    joined = "\n".join(texts)
    element = Element("paragraph", page.number, block.box, page.width, page.height,
                      lines=texts, font_size=block.font_size)
    margin = _in_margin(block.box, page)
    if margin and (_normalise(" ".join(texts)) in repeated or _PAGE_NUMBER.match(joined)
                   or (len(texts) == 1 and _ENDS_WITH_PAGE_OF.search(joined))):
        element.category = margin
        return element
    rows = table_rows(block.lines)
    if rows is not None:
        element.category, element.rows = "table", rows
    elif _CAPTION.match(texts[0]) and len(texts) <= 3:
        element.category = "caption"
    elif _BULLET.match(texts[0]) and (len(texts) == 1 or any(_BULLET.match(t) for t in texts[1:])):
        element.category = "list"
    elif _looks_like_heading(block, texts, body, heading_ratio):
        element.category = "heading1"
    return element


def join_hyphenated(lines: list[Line], *, ocr: bool) -> list[str]:
    """Line texts with words broken at line ends ("com-" / "pile") put back together.

    The text layer marks such breaks itself (pdfium's soft hyphen, ``Word.hyphenated``);
    on OCR'd pages a letter, a hyphen at the line end and a lower-case letter starting the
    next line count as one.
    """
    texts = [line.text for line in lines]
    for i in range(len(texts) - 1):
        words = lines[i].words
        soft = bool(words) and max(words, key=lambda w: w.box.x1).hyphenated
        hard = ocr and _OCR_HYPHEN_BREAK.search(texts[i]) is not None and texts[i + 1][:1].islower()
        if not (soft or hard) or not texts[i + 1]:
            continue
        head, _, rest = texts[i + 1].partition(" ")
        texts[i] = (texts[i][:-1] if hard else texts[i]) + head
        texts[i + 1] = rest.lstrip()
    return [text for text in texts if text]


def _looks_like_heading(block: _Block, texts: list[str], body: float, ratio: float) -> bool:
    """Larger than the running text, short, and not a "label: value" or an amount."""
    joined = " ".join(texts)
    if body <= 0 or block.font_size < ratio * body or len(texts) > 3 or len(joined) > 150:
        return False
    if any("  " in text for text in texts) or joined.rstrip().endswith(":"):
        return False
    return sum(ch.isalpha() for ch in joined) >= 2
