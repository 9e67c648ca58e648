"""Local engine speed on real documents: born-digital pages/s and seconds per scanned page.

    taskset -c 0 env UPSTAGE_OCR_THREADS=1 OMP_NUM_THREADS=1 \
        python bench/local_engine_speed.py [--corpus ../shared/corpus] [--scans 20]

Born-digital: every PDF under invoices/documents and robustness/ through
``parse_document(ocr="auto")``; pages that have no text layer (scans inside the
robustness set) are OCRed and reported apart, documents the engine refuses (encrypted,
corrupt) are counted, not timed. Scanned: the first N receipt images. Times are CPU
seconds of this process (``time.process_time``), so per-core numbers stay honest on a
shared machine; run it pinned to one core with one OCR thread. The engine is warmed on
one page first.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from upstage_assets.errors import DocumentError
from upstage_assets.inspection import sniff_mime_type
from upstage_assets.local_engine import page_sources
from upstage_assets.local_engine.document_parse import parse_document
from upstage_assets.local_engine.ocr import get_engine


class _OcrMeter:
    """Wraps the engine's OCR entry point to time OCRed pages apart from text-layer pages."""

    def __init__(self) -> None:
        self.pages = 0
        self.seconds = 0.0
        self._real = page_sources.ocr_images
        page_sources.ocr_images = self  # type: ignore[assignment]

    def __call__(self, images: list, device: str | None = None) -> list:
        start = time.process_time()
        try:
            return self._real(images, device)
        finally:
            self.seconds += time.process_time() - start
            self.pages += len(images)


def born_digital(paths: list[Path], meter: _OcrMeter) -> None:
    pages = refused = 0
    elapsed = 0.0
    ocr_pages, ocr_seconds = meter.pages, meter.seconds
    for path in paths:
        data = path.read_bytes()
        start = time.process_time()
        try:
            response = parse_document(data, mime_type=sniff_mime_type(data), ocr="auto")
        except DocumentError:
            refused += 1
            continue
        elapsed += time.process_time() - start
        pages += response["usage"]["pages"]
    ocr_pages, ocr_seconds = meter.pages - ocr_pages, meter.seconds - ocr_seconds
    text_pages, text_seconds = pages - ocr_pages, elapsed - ocr_seconds
    print(f"{len(paths)} PDFs ({refused} refused): {text_pages} text-layer pages in {text_seconds:.2f} s "
          f"= {text_pages / max(text_seconds, 1e-9):.1f} pages/s; {ocr_pages} scanned pages OCRed in "
          f"{ocr_seconds:.2f} s")


def scanned(paths: list[Path]) -> None:
    elapsed = 0.0
    for path in paths:
        data = path.read_bytes()
        start = time.process_time()
        parse_document(data, mime_type=sniff_mime_type(data))
        elapsed += time.process_time() - start
    print(f"scanned: {len(paths)} receipt images in {elapsed:.2f} s = {elapsed / max(1, len(paths)):.2f} s/page")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus"))
    parser.add_argument("--scans", type=int, default=20)
    parser.add_argument("--skip-pdf", action="store_true")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    meter = _OcrMeter()
    get_engine()
    receipts = sorted((corpus / "receipts" / "documents").glob("*.jpg"))
    parse_document(receipts[0].read_bytes(), mime_type="image/jpeg")  # warm-up
    if not args.skip_pdf:
        born_digital(sorted((corpus / "invoices" / "documents").glob("*.pdf")), meter)
        born_digital(sorted((corpus / "robustness").rglob("*.pdf")), meter)
    scanned(receipts[: args.scans])


if __name__ == "__main__":
    main()
