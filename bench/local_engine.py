"""Local backend speed per core, side by side with pure-Python peers on the same pages.

    python bench/local_engine.py [--corpus ../shared/corpus] [--quick]

Born-digital: the PDFs of invoices/ and robustness/ (those the engine opens and reads from
their text layer alone; PDFs with scanned pages are counted apart, OCR stubbed out), through
``parse_document`` (layout, categories, html/markdown/text) and through pypdf's plain text
extraction (no layout) on the same pages; markitdown is not installed here (its PDF path is
pdfminer, slower than pypdf on these files per the corpus README). Scanned: receipt images
through OCR. CPU seconds of this process, so figures are per core; ratios are measured in
the same run. Targets: born-digital >= 50 pages/s/core, scanned >= 1 page/s/core.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, ROOT  # noqa: E402


def _pdfs(corpus: Path, limit: int | None) -> list[tuple[Path, bytes]]:
    from upstage_assets.errors import DocumentError
    from upstage_assets.inspection import inspect_document

    found = []
    for path in sorted([*(corpus / "invoices" / "documents").glob("*.pdf"), *(corpus / "robustness").rglob("*.pdf")]):
        data = path.read_bytes()
        try:
            inspect_document(data)
        except DocumentError:
            continue
        found.append((path, data))
    return found[:limit] if limit else found


@dataclass
class EngineTiming:
    """Born-digital documents (every page from its text layer) timed on their own; documents
    with a scanned page (rasterised, OCR stubbed out) and documents refused are counted apart."""

    born_digital: list[tuple[Path, bytes]] = field(default_factory=list)
    pages: int = 0
    seconds: float = 0.0
    with_scans: int = 0
    scanned_pages: int = 0
    refused: int = 0


def time_engine(pdfs: list[tuple[Path, bytes]]) -> EngineTiming:
    from upstage_assets.errors import DocumentError
    from upstage_assets.local_engine import page_sources
    from upstage_assets.local_engine.document_parse import parse_document

    ocr_pages = 0
    real = page_sources.ocr_images

    def counting(images, device=None):  # OCRed pages (scans inside PDFs) are not text-layer work
        nonlocal ocr_pages
        ocr_pages += len(images)
        return [[] for _ in images]  # one (empty) word list per page image, as ocr_images answers

    timing = EngineTiming()
    page_sources.ocr_images = counting  # type: ignore[assignment]
    try:
        for path, data in pdfs:
            ocr_before, started = ocr_pages, time.process_time()
            try:
                pages = parse_document(data, mime_type="application/pdf")["usage"]["pages"]
            except DocumentError:  # a page it cannot rasterise, say: refused, the others go on
                timing.refused += 1
                continue
            seconds = time.process_time() - started
            if ocr_pages > ocr_before:
                timing.with_scans += 1
                timing.scanned_pages += ocr_pages - ocr_before
                continue
            timing.born_digital.append((path, data))
            timing.pages += pages
            timing.seconds += seconds
    finally:
        page_sources.ocr_images = real  # type: ignore[assignment]
    return timing


def time_pypdf(pdfs: list[tuple[Path, bytes]]) -> tuple[int, float]:
    from pypdf import PdfReader

    pages, started = 0, time.process_time()
    for _, data in pdfs:
        try:
            reader = PdfReader(io.BytesIO(data))
            for page in reader.pages:
                page.extract_text()
                pages += 1
        except Exception:  # pypdf gives up on some files the engine reads
            continue
    return pages, time.process_time() - started


def time_scans(corpus: Path, count: int) -> tuple[int, float]:
    from upstage_assets.local_engine.document_parse import parse_document

    images = sorted((corpus / "receipts" / "documents").glob("*.jpg"))[:count]
    if not images:
        return 0, 0.0
    parse_document(images[0].read_bytes(), mime_type="image/jpeg")  # load the models once
    started = time.process_time()
    for path in images:
        parse_document(path.read_bytes(), mime_type="image/jpeg")
    return len(images), time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--quick", action="store_true", help="20 PDFs and 3 scans")
    args = parser.parse_args(argv)
    if not (args.corpus / "invoices").is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    pdfs = _pdfs(args.corpus, 20 if args.quick else None)
    timing = time_engine(pdfs)
    pypdf_pages, pypdf_s = time_pypdf(timing.born_digital)
    scans, scan_s = time_scans(args.corpus, 3 if args.quick else 15)
    engine_rate = timing.pages / timing.seconds if timing.seconds else 0.0
    pypdf_rate = pypdf_pages / pypdf_s if pypdf_s else 0.0
    rows = [
        "| what | pages | CPU s | pages/s/core | vs pypdf |", "|---|---|---|---|---|",
        f"| local engine, born-digital (layout + html/markdown/text) | {timing.pages} | {timing.seconds:.2f} | "
        f"{engine_rate:.1f} | {engine_rate / pypdf_rate:.2f}x |" if pypdf_rate else "",
        f"| pypdf text extraction (no layout), same files | {pypdf_pages} | {pypdf_s:.2f} | {pypdf_rate:.1f} | 1.00x |",
        f"| local engine, scanned receipts (OCR) | {scans} | {scan_s:.2f} | {scans / scan_s if scan_s else 0:.2f} | |",
    ]
    table = ("# Local engine speed (CPU time, one process)\n\n" + "\n".join(r for r in rows if r) + "\n\n"
             f"`python bench/local_engine.py{' --quick' if args.quick else ''}`: {len(pdfs)} PDFs the engine opens; "
             f"born-digital: the {len(timing.born_digital)} whose every page has a text layer. Left out: "
             f"{timing.with_scans} with scanned pages ({timing.scanned_pages} pages), {timing.refused} refused.\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "local_engine.md").write_text(table)
    print(table)
    print(f"born_digital_pages_per_s={engine_rate:.1f} pypdf_pages_per_s={pypdf_rate:.1f} "
          f"scanned_pages_per_s={scans / scan_s if scan_s else 0:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
