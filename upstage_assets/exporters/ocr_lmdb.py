"""Line-image crops with their text, as an LMDB text-recognition training set.

The layout is the one common text-recognition trainers read (deep-text-recognition-benchmark,
PaddleOCR's LMDB loader): ``image-%09d`` -> encoded image bytes, ``label-%09d`` -> UTF-8 text,
``num-samples`` -> the count, indices from 1. Crops come from the page images (PDF pages
rendered with pdfium, images as they are) at each element's relative coordinates. Only
elements holding a single line of text are used: a multi-line paragraph has no per-line
boxes, and guessing them would teach the recogniser wrong labels. Tables, figures, charts and
equations are skipped for the same reason. Runs of spaces in a label become one space (the
recogniser reads one gap, whatever its width).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from upstage_assets.exporters.base import ExportResult, ExportSource
from upstage_assets.redaction import redact
from upstage_assets.unicode_text import valid_text

SKIPPED_CATEGORIES = {"table", "figure", "chart", "equation"}
PDF_RENDER_SCALE = 2.0  # 144 dpi: enough for recognisers trained at 32-48 px line height
PADDING_PX = 2
MIN_SIDE_PX = 4
INITIAL_MAP_SIZE = 1 << 30


def page_images(data: bytes, mime_type: str, scale: float = PDF_RENDER_SCALE) -> Iterator[Image.Image]:
    """Every page of a document as an RGB image."""
    if mime_type == "application/pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(data)
        try:
            for index in range(len(pdf)):
                page = pdf[index]
                yield page.render(scale=scale).to_pil().convert("RGB")
                page.close()
        finally:
            pdf.close()
        return
    image = Image.open(io.BytesIO(data))
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        yield image.convert("RGB")


def line_samples(parsed: dict[str, Any]) -> Iterator[tuple[int, tuple[float, float, float, float], str]]:
    """(page, relative box x0,y0,x1,y1, text) for each single-line text element."""
    for element in parsed.get("elements", []):
        if element.get("category") in SKIPPED_CATEGORIES:
            continue
        text = ((element.get("content") or {}).get("text") or "").strip()
        points = element.get("coordinates") or []
        if not text or "\n" in text or len(points) < 3:
            continue
        xs = [float(p["x"]) for p in points]
        ys = [float(p["y"]) for p in points]
        yield int(element.get("page") or 1), (min(xs), min(ys), max(xs), max(ys)), " ".join(text.split())


def crop(page: Image.Image, box: tuple[float, float, float, float]) -> Image.Image | None:
    width, height = page.size
    x0 = max(0, int(box[0] * width) - PADDING_PX)
    y0 = max(0, int(box[1] * height) - PADDING_PX)
    x1 = min(width, int(round(box[2] * width)) + PADDING_PX)
    y1 = min(height, int(round(box[3] * height)) + PADDING_PX)
    if x1 - x0 < MIN_SIDE_PX or y1 - y0 < MIN_SIDE_PX:
        return None
    return page.crop((x0, y0, x1, y1))


class _LmdbWriter:
    """Puts samples in one write transaction per document; grows the map when it fills."""

    def __init__(self, path: Path):
        import lmdb

        self._lmdb = lmdb
        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(path), map_size=INITIAL_MAP_SIZE, subdir=True)
        self.count = 0

    def put_all(self, items: list[tuple[bytes, str]]) -> None:
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for offset, (image, label) in enumerate(items, start=1):
                        index = self.count + offset
                        txn.put(f"image-{index:09d}".encode(), image)
                        txn.put(f"label-{index:09d}".encode(), label.encode("utf-8"))
                    txn.put(b"num-samples", str(self.count + len(items)).encode())
                self.count += len(items)
                return
            except self._lmdb.MapFullError:
                self.env.set_mapsize(self.env.info()["map_size"] * 2)

    def close(self) -> None:
        self.env.sync()
        self.env.close()


def export_lmdb(source: ExportSource, out_dir: Path, *, schemas: Iterable[str] | None = None,
                progress: Any = None, **_: Any) -> ExportResult:
    result = ExportResult()
    wanted = set(schemas or ())
    registry = source.registry
    writer = _LmdbWriter(out_dir)
    try:
        for document_id in source.document_ids(source.layout.parsed):
            record = registry.get(document_id)
            if record is None or (wanted and record.schema not in wanted):
                if record is None:
                    result.skipped.append((document_id, "not in the registry"))
                continue
            try:
                parsed = source.read_json(source.layout.parsed_key(document_id))
                raw = source.read_json(source.layout.raw_key(document_id))
                samples = list(line_samples(parsed))
                if not samples:
                    result.skipped.append((document_id, "no single-line text elements with coordinates"))
                else:
                    try:
                        pages = list(page_images(source.read_source(record.source_uri), raw["mime_type"]))
                    except Exception as exc:  # a source moved or unreadable: skip the document, say why
                        result.skipped.append((document_id, f"page images unavailable: {type(exc).__name__}"))
                        pages = []
                    items = []
                    for page_number, box, text in samples:
                        if not 1 <= page_number <= len(pages):
                            continue
                        image = crop(pages[page_number - 1], box)
                        if image is None:
                            continue
                        buffer = io.BytesIO()
                        image.save(buffer, format="PNG")
                        items.append((buffer.getvalue(), valid_text(text)))
                    if items:
                        writer.put_all(items)
            except Exception as exc:  # one unreadable result is reported; the other documents are exported
                result.skipped.append((document_id, f"{type(exc).__name__}: {redact(str(exc))[:200]}"))
            if progress is not None:
                progress.update(1)
    finally:
        writer.close()
    result.records = writer.count
    result.files = [out_dir / "data.mdb", out_dir / "lock.mdb"]
    return result
