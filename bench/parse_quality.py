"""Document Parse quality of the local engine: pass rates of unit checks per kind.

    python bench/parse_quality.py [--corpus ../shared/corpus] [--only DOC_SUBSTRING] [--no-write]

Each check in ``parse_quality_checks.py`` (written from the rendered pages of the corpus)
is run on the local engine's Markdown, and on pypdf's and pdfium's plain text of the same
documents (images read as empty text there). Texts are compared after folding Unicode
compatibility forms, quotes, dashes, Markdown/HTML markup and whitespace; tables are read
from the output's Markdown pipe tables and HTML tables (rowspan/colspan expanded).
Results go to bench/results/parse_quality.md.
"""

from __future__ import annotations

import argparse
import html
import io
import re
import sys
import time
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from upstage_assets.local_engine.line_items import span_grid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, ROOT  # noqa: E402
from parse_quality_checks import CHECKS  # noqa: E402

KINDS = ("text", "absent", "order", "table")
_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                       "\u2212": "-", "\u00a0": " ", "\u00ad": None, "\ufffe": None, "\u200b": None})


# An HTML tag: "<" then a name (a bare "<" in maths or code, "x < y", is text and stays).
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>")


def normalise(text: str) -> str:
    """Fold what a reader would not notice: compatibility forms, quotes, dashes, markup, spacing."""
    text = unicodedata.normalize("NFKC", html.unescape(_TAG.sub(" ", text))).translate(_FOLD)
    text = re.sub(r"(?m)^\s*(#+|[-*]|\|?\s*-{3,}[-|\s]*)\s", " ", text)
    text = re.sub(r"[*_]", "", text.replace("|", " "))
    return re.sub(r"\s+", " ", text).strip()


# --- tables in the output -------------------------------------------------------------------

class _HtmlTables(HTMLParser):
    """Grids of every <table>, cells spread over their rowspan/colspan."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._rows: list[list[tuple[str, int, int]]] | None = None
        self._cell: list[str] | None = None
        self._span = (1, 1)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table":
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []
            self._span = (int(values.get("rowspan") or 1), int(values.get("colspan") or 1))
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._rows:
            self._rows[-1].append(("".join(self._cell), *self._span))
            self._cell = None
        elif tag == "table" and self._rows is not None:
            self.tables.append(span_grid(self._rows))
            self._rows = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables_of(output: str) -> list[list[list[str]]]:
    parser = _HtmlTables()
    parser.feed(output)
    tables = parser.tables
    block: list[str] = []
    for line in [*output.splitlines(), ""]:
        if line.strip().startswith("|"):
            block.append(line.strip())
            continue
        if len(block) >= 2:
            rows = [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row.strip("|"))]
                    for row in block if not re.fullmatch(r"\|[\s:|-]*\|?", row)]
            tables.append(rows)
        block = []
    return tables


def _table_check(output: str, check: dict[str, Any]) -> bool:
    want = normalise(check["cell"])
    relations = {key: normalise(value) for key, value in check["neighbours"].items()}
    for table in tables_of(output):
        grid = [[normalise(cell) for cell in row] for row in table]
        for r, row in enumerate(grid):
            for c, cell in enumerate(row):
                if cell != want:
                    continue
                seen = {
                    "left": _step(row, c, -1), "right": _step(row, c, 1),
                    "up": _step([g[c] if c < len(g) else "" for g in grid], r, -1),
                    "down": _step([g[c] if c < len(g) else "" for g in grid], r, 1),
                    "top_heading": next((g[c] for g in grid if c < len(g) and g[c] and g[c] != cell), ""),
                }
                if all(seen[key] == value for key, value in relations.items()):
                    return True
    return False


def _step(cells: list[str], index: int, direction: int) -> str:
    """The neighbour across a merged cell: the first different value in that direction."""
    own = cells[index]
    i = index + direction
    while 0 <= i < len(cells) and cells[i] == own:
        i += direction
    return cells[i] if 0 <= i < len(cells) else ""


def passes(output: str, check: dict[str, Any]) -> bool:
    kind = check["kind"]
    if kind == "table":
        return _table_check(output, check)
    text = normalise(output)
    if kind == "text":
        return normalise(check["text"]) in text
    if kind == "absent":
        return normalise(check["text"]) not in text
    before, after = text.find(normalise(check["before"])), text.find(normalise(check["after"]))
    return 0 <= before < after


# --- the readers ----------------------------------------------------------------------------

def _document(corpus: Path, doc: str, rotate: int) -> tuple[bytes, str]:
    path = corpus / doc
    data = path.read_bytes()
    if path.suffix.lower() == ".pdf":
        return data, "application/pdf"
    if rotate:
        from PIL import Image

        buffer = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").rotate(rotate, expand=True).save(buffer, format="PNG")
        return buffer.getvalue(), "image/png"
    return data, "image/png" if path.suffix.lower() == ".png" else "image/jpeg"


def engine_markdown(data: bytes, mime: str) -> str:
    from upstage_assets.local_engine.document_parse import parse_document

    return str(parse_document(data, mime_type=mime, output_formats=("markdown",))["content"]["markdown"])


def pypdf_text(data: bytes, mime: str) -> str:
    if mime != "application/pdf":
        return ""
    from pypdf import PdfReader

    try:
        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    except Exception:  # pypdf gives up on some files
        return ""


def pdfium_text(data: bytes, mime: str) -> str:
    if mime != "application/pdf":
        return ""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        texts = []
        for page in pdf:
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return "\n".join(texts)
    finally:
        pdf.close()


READERS = {"local engine": engine_markdown, "pypdf text": pypdf_text, "pdfium text": pdfium_text}


def run(corpus: Path, only: str | None = None) -> tuple[dict[str, list[bool]], dict[str, float], list[str]]:
    checks = [c for c in CHECKS if not only or only in c["doc"]]
    outputs: dict[tuple[str, str, int], str] = {}
    seconds = dict.fromkeys(READERS, 0.0)
    for check in checks:
        for reader, read in READERS.items():
            key = (reader, check["doc"], check["rotate"])
            if key not in outputs:
                data, mime = _document(corpus, check["doc"], check["rotate"])
                started = time.process_time()
                outputs[key] = read(data, mime)
                seconds[reader] += time.process_time() - started
    results = {reader: [passes(outputs[(reader, c["doc"], c["rotate"])], c) for c in checks] for reader in READERS}
    failures = [f"{c['kind']:6} {c['doc'].split('/')[-1]}{' rot' + str(c['rotate']) if c['rotate'] else ''}: "
                f"{c.get('text') or c.get('cell') or (c.get('before', '') + ' < ' + c.get('after', ''))}"[:150]
                for c, ok in zip(checks, results["local engine"], strict=True) if not ok]
    return results, seconds, failures


def report(results: dict[str, list[bool]], seconds: dict[str, float], only: str | None = None) -> str:
    checks = [c for c in CHECKS if not only or only in c["doc"]]
    lines = ["| reader | " + " | ".join(KINDS) + " | overall | CPU s |", "|---" * (len(KINDS) + 3) + "|"]
    for reader, oks in results.items():
        cells = []
        for kind in KINDS:
            picked = [ok for ok, c in zip(oks, checks, strict=True) if c["kind"] == kind]
            cells.append(f"{sum(picked) / len(picked):.2f} ({sum(picked)}/{len(picked)})" if picked else "-")
        lines.append(f"| {reader} | " + " | ".join(cells) +
                     f" | {sum(oks) / len(oks):.2f} ({sum(oks)}/{len(oks)}) | {seconds[reader]:.1f} |")
    tags = sorted({t for c in checks for t in c["tags"]})
    tag_lines = ["| tag | checks | local engine | pypdf text | pdfium text |", "|---|---|---|---|---|"]
    for tag in tags:
        idx = [i for i, c in enumerate(checks) if tag in c["tags"]]
        tag_lines.append(f"| {tag} | {len(idx)} | " +
                         " | ".join(f"{sum(results[r][i] for i in idx) / len(idx):.2f}" for r in READERS) + " |")
    return "\n".join(lines) + "\n\nBy defect probed:\n\n" + "\n".join(tag_lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--only", help="run only the checks of documents whose path contains this")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    parser.add_argument("--failures", action="store_true", help="list the local engine's failed checks")
    args = parser.parse_args(argv)
    if not (args.corpus / "invoices").is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    results, seconds, failures = run(args.corpus, args.only)
    table = report(results, seconds, args.only)
    print(table)
    if args.failures:
        print("Local engine failures:\n" + "\n".join(failures))
    if not args.no_write and not args.only:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "parse_quality.md").write_text(
            "# Document Parse quality on the corpus checks\n\n`python bench/parse_quality.py` "
            f"({len(CHECKS)} checks, bench/parse_quality_checks.py)\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
