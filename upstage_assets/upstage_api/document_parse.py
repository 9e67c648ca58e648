"""Document Parse and OCR over HTTP (contract sections 1-3).

Documents within the sync page limit go to ``POST /v1/document-digitization``; larger ones,
or any the server refuses with 413, go through the async flow: submit, poll with growing
intervals, download each batch's result from its pre-signed URL (plain GET, no auth; poll
again for fresh URLs when one has expired), and merge the batches in ``id`` order into one
response with document-wide page numbers and element ids renumbered from 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from upstage_assets.inspection import EXTENSION_FOR_TYPE
from upstage_assets.upstage_api.errors import (
    UpstageDownloadExpired,
    UpstageJobFailed,
    UpstagePayloadTooLarge,
    UpstageProtocolError,
    UpstageServerError,
)
from upstage_assets.upstage_api.http import UpstageHttp
from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument

logger = logging.getLogger("upstage_assets.document_parse_api")

SYNC_PATH = "/v1/document-digitization"
ASYNC_PATH = "/v1/document-digitization/async"
REQUEST_PATH = "/v1/document-digitization/requests/{request_id}"
CONTENT_SEPARATORS = {"html": "\n", "markdown": "\n\n", "text": "\n"}
_ELEMENT_ID = re.compile(r"""\bid=(['"])\d+\1""")


@dataclass(frozen=True)
class AsyncPollSettings:
    """Polling grows from ``initial_interval_s`` by ``backoff`` up to ``max_interval_s``.

    ``timeout_s`` is long on purpose: the contract says a job can queue for up to 72 hours.
    """

    initial_interval_s: float = 1.0
    max_interval_s: float = 15.0
    backoff: float = 1.5
    timeout_s: float = 6 * 3600.0
    max_url_refreshes: int = 3


def upload_filename(document: SourceDocument) -> str:
    """A short name without path parts whose extension matches the bytes (bad names can stall jobs)."""
    name = PurePath(document.filename.replace("\\", "/")).name or document.document_id
    stem, suffix = (name.rsplit(".", 1) + [""])[:2] if "." in name else (name, "")
    wanted = EXTENSION_FOR_TYPE.get(document.mime_type)
    extension = wanted if wanted else (f".{suffix}" if suffix else "")
    stem = re.sub(r"[^\w\-. ]", "_", stem)[:120] or document.document_id
    return f"{stem}{extension}"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def parse_form(options: ParseOptions) -> dict[str, str]:
    """Every Document Parse request field, in the wire form the API documents (lists as JSON)."""
    return {
        "model": options.model,
        "mode": options.mode,
        "ocr": options.ocr,
        "output_formats": json.dumps(list(options.output_formats)),
        "coordinates": _flag(options.coordinates),
        "chart_recognition": _flag(options.chart_recognition),
        "merge_multipage_tables": _flag(options.merge_multipage_tables),
        "base64_encoding": json.dumps(list(options.base64_encoding)),
    }


def normalise_response(response: Any, path: str) -> dict[str, Any]:
    """Check the shape and give it an ``api`` key whether the server said ``api`` or ``apiVersion``."""
    if not isinstance(response, dict) or not isinstance(response.get("elements"), list):
        raise UpstageProtocolError(f"Upstage {path} answered without an elements list", path=path)
    if "api" not in response and "apiVersion" in response:
        response["api"] = response["apiVersion"]
    return response


def merge_batches(batches: list[tuple[dict[str, Any], dict[str, Any]]], total_pages: int) -> dict[str, Any]:
    """One sync-shaped response from (batch status, batch result) pairs, in batch ``id`` order.

    Pages become document-wide (a batch whose pages are below its ``start_page`` counted
    from its own start) and element ids run from 0 across the document, in HTML too.
    """
    elements: list[dict[str, Any]] = []
    formats: list[str] = []
    billed = 0
    first: dict[str, Any] = {}
    for status, result in sorted(batches, key=lambda pair: int(pair[0].get("id", 0))):
        first = first or result
        start_page = int(status.get("start_page") or 1)
        batch_elements = result.get("elements", [])
        relative = start_page > 1 and any(int(e.get("page", start_page)) < start_page for e in batch_elements)
        for element in batch_elements:
            element = dict(element)
            if relative:
                element["page"] = int(element.get("page", 1)) + start_page - 1
            new_id = len(elements)
            element["id"] = new_id
            content = dict(element.get("content") or {})
            if isinstance(content.get("html"), str):
                content["html"] = _ELEMENT_ID.sub(f"id='{new_id}'", content["html"])
            element["content"] = content
            elements.append(element)
        for fmt in (result.get("content") or {}):
            if fmt not in formats:
                formats.append(fmt)
        usage = result.get("usage") or {}
        billed += int(usage.get("pages", 0)) if isinstance(usage, dict) else 0
    content = {fmt: CONTENT_SEPARATORS.get(fmt, "\n").join(
        str((e.get("content") or {}).get(fmt, "")) for e in elements) for fmt in formats}
    return {
        "api": first.get("api") or first.get("apiVersion") or "2.0",
        "model": first.get("model") or "document-parse",
        "content": content,
        "elements": elements,
        "usage": {"pages": billed or total_pages},
    }


class DocumentParseApi:
    """Sync, async and OCR calls; ``parse`` picks sync or async for the caller."""

    def __init__(self, http: UpstageHttp, *, sync_page_limit: int = 100,
                 poll: AsyncPollSettings | None = None):
        self.http = http
        self.sync_page_limit = sync_page_limit
        self.poll_settings = poll or AsyncPollSettings()

    async def parse(self, document: SourceDocument, options: ParseOptions) -> dict[str, Any]:
        """Sync up to ``sync_page_limit`` pages, async beyond it or when the server answers 413."""
        if document.page_count > self.sync_page_limit:
            return await self.parse_async(document, options)
        try:
            return await self.parse_sync(document, options)
        except UpstagePayloadTooLarge:
            logger.info("document %s refused by sync Document Parse (413); switching to async",
                        document.document_id)
            return await self.parse_async(document, options)

    async def parse_sync(self, document: SourceDocument, options: ParseOptions) -> dict[str, Any]:
        body: dict[str, Any] = await self.http.request_json(
            "POST", SYNC_PATH, endpoint="document-parse", pages=document.page_count,
            data=parse_form(options), files=self._files(document),
            decode=lambda body: normalise_response(body, SYNC_PATH))
        return body

    async def ocr(self, document: SourceDocument, *, model: str = "ocr",
                  schema: str | None = None) -> dict[str, Any]:
        """OCR (``model=ocr``): pixel vertices and ``pages[].words[]``; ``schema`` = clova|google."""
        form = {"model": model}
        if schema:
            form["schema"] = schema
        def check(body: Any) -> dict[str, Any]:
            if not isinstance(body, dict) or "pages" not in body:
                raise UpstageProtocolError("Upstage OCR answered without pages", path=SYNC_PATH)
            return body

        result: dict[str, Any] = await self.http.request_json(
            "POST", SYNC_PATH, endpoint="ocr", pages=document.page_count, data=form,
            files=self._files(document), decode=check)
        return result

    async def submit_async(self, document: SourceDocument, options: ParseOptions) -> str:
        def check(body: Any) -> str:
            request_id = body.get("request_id") if isinstance(body, dict) else None
            if not request_id:
                raise UpstageProtocolError("async Document Parse answered without request_id", path=ASYNC_PATH)
            return str(request_id)

        request_id: str = await self.http.request_json(
            "POST", ASYNC_PATH, endpoint="document-parse-async", pages=document.page_count,
            data=parse_form(options), files=self._files(document), decode=check)
        return request_id

    async def request_status(self, request_id: str) -> dict[str, Any]:
        path = REQUEST_PATH.format(request_id=request_id)
        def check(body: Any) -> dict[str, Any]:
            if not isinstance(body, dict) or "status" not in body:
                raise UpstageProtocolError("async status answered without status", path=path)
            return body

        status: dict[str, Any] = await self.http.get_json(path, endpoint="poll", decode=check)
        return status

    async def wait_for(self, request_id: str) -> dict[str, Any]:
        """Poll until ``completed`` (returned) or ``failed`` (raised), with growing intervals."""
        settings = self.poll_settings
        deadline = time.monotonic() + settings.timeout_s
        interval = settings.initial_interval_s
        while True:
            status = await self.request_status(request_id)
            state = str(status.get("status", "")).lower()
            if state == "completed":
                return status
            if state == "failed":
                reason = status.get("failure_message") or "no reason given"
                raise UpstageJobFailed(f"async Document Parse request {request_id} failed: {reason}",
                                       path=ASYNC_PATH)
            if time.monotonic() + interval > deadline:
                raise UpstageServerError(f"async Document Parse request {request_id} still {state!r} after "
                                         f"{settings.timeout_s:.0f} s", path=ASYNC_PATH)
            await asyncio.sleep(interval)
            interval = min(settings.max_interval_s, interval * settings.backoff)

    async def parse_async(self, document: SourceDocument, options: ParseOptions) -> dict[str, Any]:
        request_id = await self.submit_async(document, options)
        status = await self.wait_for(request_id)
        results = await self._download_batches(request_id, status)
        total_pages = int(status.get("total_pages") or document.page_count)
        merged = merge_batches(results, total_pages)
        merged["request_id"] = request_id
        return merged

    async def _download_batches(self, request_id: str, status: dict[str, Any]
                                ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Download every batch, polling again for fresh URLs when a download has expired."""
        done: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        refreshes = 0
        while True:
            batches = status.get("batches") or []
            failed = [b for b in batches if str(b.get("status", "")).lower() == "failed"]
            if failed:
                reason = failed[0].get("failure_message") or "no reason given"
                raise UpstageJobFailed(f"async request {request_id} batch {failed[0].get('id')} failed: "
                                       f"{reason}", path=ASYNC_PATH)
            pending = [b for b in batches if int(b.get("id", 0)) not in done]
            outcomes = await asyncio.gather(*(self._download_one(b) for b in pending), return_exceptions=True)
            expired = False
            for batch, outcome in zip(pending, outcomes, strict=True):
                if isinstance(outcome, UpstageDownloadExpired):
                    expired = True
                elif isinstance(outcome, BaseException):
                    raise outcome
                else:
                    done[int(batch.get("id", 0))] = (batch, outcome)
            if not expired:
                return [done[key] for key in sorted(done)]
            refreshes += 1
            if refreshes > self.poll_settings.max_url_refreshes:
                raise UpstageDownloadExpired(f"async request {request_id}: download URLs kept expiring "
                                             f"after {refreshes - 1} refreshes", path=ASYNC_PATH)
            logger.info("async request %s: a download URL expired; polling for fresh URLs", request_id)
            status = await self.request_status(request_id)

    async def _download_one(self, batch: dict[str, Any]) -> dict[str, Any]:
        url = batch.get("download_url")
        if not url:
            raise UpstageProtocolError(f"batch {batch.get('id')} completed without download_url",
                                       path=ASYNC_PATH)
        result: dict[str, Any] = await self.http.download_json(
            str(url), lambda body: normalise_response(body, "download_url"))
        return result

    @staticmethod
    def _files(document: SourceDocument) -> dict[str, Any]:
        return {"document": (upload_filename(document), document.data, document.mime_type)}
