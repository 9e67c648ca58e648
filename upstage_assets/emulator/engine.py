"""The bridge to the local engine: inspection, real results, and page-range splitting.

Engine work is CPU-heavy, so it runs in a thread pool: the event loop keeps answering polls,
429s and injected latency on time while documents are parsed. Identical requests (same bytes,
same options) are served from a small LRU cache so benchmarks of the client measure the client.
In benchmark mode that cache has no bound and also holds inspections and extractions, so a
warmed emulator answers every request it has seen from memory.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import json
import multiprocessing
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from upstage_assets.emulator.api_errors import ApiError, api_error_for_document
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.emulator.wire import ResolvedParseRequest
from upstage_assets.errors import DocumentError
from upstage_assets.inspection import PDF, TIFF, DocumentInfo, DocumentLimits, inspect_document
from upstage_assets.unicode_text import valid_unicode


def inspect(data: bytes, *, max_bytes: int, max_pages: int, max_pixels: int) -> DocumentInfo:
    """Type and page count, or the API error the real service answers with."""
    try:
        return inspect_document(data, DocumentLimits(max_bytes=max_bytes, max_pages=max_pages,
                                                     max_pixels_per_page=max_pixels))
    except DocumentError as exc:
        raise api_error_for_document(exc) from None


def split_pages(data: bytes, mime_type: str, start_page: int, end_page: int) -> bytes:
    """The document restricted to pages start..end (1-based, inclusive), in the same format."""
    if mime_type == PDF:
        import pypdfium2 as pdfium

        source = pdfium.PdfDocument(data)
        target = pdfium.PdfDocument.new()
        try:
            target.import_pages(source, pages=list(range(start_page - 1, end_page)))
            buffer = io.BytesIO()
            target.save(buffer)
            return buffer.getvalue()
        finally:
            target.close()
            source.close()
    if mime_type == TIFF:
        from PIL import Image, ImageSequence

        with Image.open(io.BytesIO(data)) as image:
            frames = [frame.copy() for frame in ImageSequence.Iterator(image)][start_page - 1:end_page]
        buffer = io.BytesIO()
        frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:])
        return buffer.getvalue()
    return data  # single-page images


class Engine:
    """Runs the local engine off the event loop and shapes its answers as the API's snapshot."""

    def __init__(self, settings: EmulatorSettings):
        self.settings = settings
        workers = max(1, settings.engine_workers)
        self._pool: Executor
        if settings.engine_executor == "process":
            # Worker processes keep the engine's GIL-holding Python work off the server's event loop.
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        else:
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emulator-engine")
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.benchmark_mode = settings.benchmark_mode
        self.computed = 0  # engine calls actually made (a warmed benchmark emulator makes none)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the pool; fn and args must be picklable (module-level) for process pools."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def inspect(self, data: bytes, *, max_bytes: int, max_pages: int, max_pixels: int) -> DocumentInfo:
        """``inspect``, remembered by content in benchmark mode (refusals are not remembered)."""
        if not self.benchmark_mode:
            return inspect(data, max_bytes=max_bytes, max_pages=max_pages, max_pixels=max_pixels)
        key = ("inspect", hashlib.sha256(data).digest(), max_bytes, max_pages, max_pixels)
        info = self._cache_get(key)
        if info is None:
            info = inspect(data, max_bytes=max_bytes, max_pages=max_pages, max_pixels=max_pixels)
            self._cache_put(key, info)
        return info

    async def parse(self, data: bytes, mime_type: str, options: ResolvedParseRequest) -> dict[str, Any]:
        """A Document Parse (or OCR) response for the whole of ``data``."""
        key = (hashlib.sha256(data).hexdigest(), mime_type, options)
        cached = self._cache_get(key)
        if cached is None:
            self.computed += 1
            cached = await self.run(_call_engine, data, mime_type, options)
            self._cache_put(key, cached)
        # Callers change only top-level keys and "usage": in benchmark mode a shallow copy is enough.
        result = _shallow_copy(cached) if self.benchmark_mode else copy.deepcopy(cached)
        if options.is_ocr:
            result["modelVersion"] = self.settings.ocr_snapshot
            result["apiVersion"] = "1.1"
            result["mimeType"] = "multipart/form-data"
        else:
            result["api"] = "2.0"
            result["model"] = self.settings.parse_snapshot
        return result

    async def extract(self, parse_response: dict[str, Any], response_format: dict[str, Any], *,
                      location: bool, confidence: bool, document_sha256: str | None = None) -> dict[str, Any]:
        """An extraction; in benchmark mode remembered by (document, schema, flags)."""
        key: tuple[Any, ...] | None = None
        if self.benchmark_mode and document_sha256:
            key = ("extract", document_sha256, json.dumps(response_format, sort_keys=True), location, confidence)
            cached = self._cache_get(key)
            if cached is not None:
                return _shallow_copy(cached)
        self.computed += 1
        result: dict[str, Any] = await self.run(_call_kie, parse_response, response_format, location, confidence)
        result["model"] = self.settings.ie_snapshot
        if key is not None:
            self._cache_put(key, result)
            return _shallow_copy(result)
        return result

    def _cache_get(self, key: tuple[Any, ...]) -> Any:
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def _cache_put(self, key: tuple[Any, ...], value: Any) -> None:
        if self.settings.result_cache_size <= 0 and not self.benchmark_mode:
            return
        with self._cache_lock:
            self._cache[key] = value
            while not self.benchmark_mode and len(self._cache) > self.settings.result_cache_size:
                self._cache.popitem(last=False)


def _shallow_copy(result: dict[str, Any]) -> dict[str, Any]:
    copied = dict(result)
    if isinstance(copied.get("usage"), dict):
        copied["usage"] = dict(copied["usage"])
    return copied


def _call_engine(data: bytes, mime_type: str, options: ResolvedParseRequest) -> dict[str, Any]:
    from upstage_assets.local_engine.document_parse import ocr_document, parse_document

    if options.is_ocr:
        return _guard(lambda: ocr_document(data, mime_type=mime_type))
    result: dict[str, Any] = _guard(lambda: parse_document(
        data, mime_type=mime_type, ocr=options.ocr, output_formats=options.output_formats,
        coordinates=options.coordinates, base64_encoding=options.base64_encoding))
    content = result.setdefault("content", {})
    for name in ("html", "markdown", "text"):
        content.setdefault(name, "")
    return result


def _call_kie(parse_response: dict[str, Any], response_format: dict[str, Any], location: bool,
              confidence: bool) -> dict[str, Any]:
    from upstage_assets.local_engine.kie import information_extraction_response

    return dict(_guard(lambda: information_extraction_response(
        parse_response, response_format, location=location, confidence=confidence)))


def extract_fields_guarded(parse_response: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    from upstage_assets.local_engine.kie import extract_fields

    return dict(_guard(lambda: extract_fields(parse_response, schema)))


def _guard(fn: Callable[[], Any]) -> Any:
    """Engine refusals become the API's codes; an engine that isn't there yet is a 501.

    The answer's text is made valid Unicode here, as the real API's JSON always is."""
    try:
        return valid_unicode(fn())
    except DocumentError as exc:
        raise api_error_for_document(exc) from None
    except NotImplementedError:
        raise ApiError(501, "the local engine does not implement this yet", "engine_unavailable") from None
