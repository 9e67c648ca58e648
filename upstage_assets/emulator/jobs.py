"""Async Document Parse jobs (contract section 2): 10-page batches on a timer, presigned downloads.

A job waits ``async_queue_s`` in ``submitted``, then each batch runs the real engine on its page
range and takes at least ``async_batch_s``. Pages in each batch result are document-wide (batch
``start_page - 1`` is added), element ids restart at 0 in each batch, as if that page range had
been sent alone. Download URLs point at this emulator, need no auth, and expire after
``download_url_ttl_s`` with a 403 like an S3 presigned URL; polling again mints fresh ones.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from upstage_assets.emulator.api_errors import ApiError
from upstage_assets.emulator.background import BackgroundTasks
from upstage_assets.emulator.engine import Engine, split_pages
from upstage_assets.emulator.faults import FaultInjector
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.emulator.wire import ResolvedParseRequest


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Batch:
    id: int
    start_page: int
    end_page: int
    status: str = "scheduled"
    failure_message: str = ""
    requested_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)
    result: bytes | None = None  # the JSON the download URL serves


@dataclass
class ParseJob:
    id: str
    model: str
    snapshot: str
    options: ResolvedParseRequest
    total_pages: int
    batches: list[Batch]
    status: str = "submitted"
    failure_message: str = ""
    completed_pages: int = 0
    requested_at: str = field(default_factory=utc_now)
    completed_at: str | None = None

    def fail(self, message: str) -> None:
        self.status, self.failure_message, self.completed_at = "failed", message, utc_now()
        for batch in self.batches:
            if batch.status in ("scheduled", "started"):
                batch.status, batch.updated_at = "failed", utc_now()
                batch.failure_message = batch.failure_message or "not processed: the request failed"


@dataclass
class Download:
    job_id: str
    batch_id: int
    expires_at: float


class ParseJobStore:
    def __init__(self, settings: EmulatorSettings, engine: Engine, faults: FaultInjector):
        self.settings = settings
        self.engine = engine
        self.faults = faults
        self.jobs: dict[str, ParseJob] = {}
        self.downloads: dict[str, Download] = {}
        self._tasks = BackgroundTasks()

    def submit(self, data: bytes, mime_type: str, page_count: int, options: ResolvedParseRequest,
               failure: str | None = None) -> ParseJob:
        """Register the job and start it; a failure known at submission ends it as ``failed``."""
        size = self.settings.async_batch_pages
        batches = [Batch(i, start, min(start + size - 1, page_count))
                   for i, start in enumerate(range(1, page_count + 1, size))]
        snapshot = self.settings.ocr_snapshot if options.is_ocr else self.settings.parse_snapshot
        job = ParseJob(str(uuid.uuid4()), options.model, snapshot, options, page_count, batches)
        self.jobs[job.id] = job
        self._tasks.start(self._run(job, data, mime_type, failure))
        return job

    async def close(self) -> None:
        await self._tasks.close()

    async def _run(self, job: ParseJob, data: bytes, mime_type: str, failure: str | None) -> None:
        await asyncio.sleep(self.settings.async_queue_s)
        if failure is not None:
            job.fail(failure)
            return
        if job.total_pages > self.settings.async_max_pages:
            job.fail(f"the document has {job.total_pages} pages; the async limit is "
                     f"{self.settings.async_max_pages} pages")
            return
        job.status = "started"
        for batch in job.batches:
            if not await self._run_batch(job, batch, data, mime_type):
                job.fail(f"batch {batch.id} (pages {batch.start_page}-{batch.end_page}) failed: "
                         f"{batch.failure_message}")
                return
        job.status, job.completed_at = "completed", utc_now()

    async def _run_batch(self, job: ParseJob, batch: Batch, data: bytes, mime_type: str) -> bool:
        started = time.monotonic()
        batch.status, batch.updated_at = "started", utc_now()
        try:
            if self.faults.batch_fails():
                raise ApiError(500, "internal error while processing the batch (injected)")
            part = await self.engine.run(split_pages, data, mime_type, batch.start_page, batch.end_page)
            result = await self.engine.parse(part, mime_type, job.options)
        except ApiError as exc:
            batch.status, batch.failure_message = "failed", exc.message
        except Exception as exc:  # the engine's own bugs must fail the job, not hang it
            batch.status, batch.failure_message = "failed", f"internal error: {type(exc).__name__}"
        else:
            _rebase_pages(result, batch.start_page - 1)
            batch.result = json.dumps(result).encode()
        await asyncio.sleep(max(0.0, self.settings.async_batch_s - (time.monotonic() - started)))
        batch.updated_at = utc_now()
        if batch.status == "failed":
            return False
        batch.status = "completed"
        job.completed_pages += batch.end_page - batch.start_page + 1
        return True

    def get(self, job_id: str) -> ParseJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"request {job_id!r} not found", "request_not_found")
        return job

    def describe(self, job: ParseJob, base_url: str) -> dict[str, Any]:
        """The poll response; every completed batch gets a freshly minted download URL."""
        return {
            "id": job.id, "status": job.status, "model": job.model, "failure_message": job.failure_message,
            "total_pages": job.total_pages, "completed_pages": job.completed_pages,
            "batches": [self._describe_batch(job, batch, base_url) for batch in job.batches],
            "requested_at": job.requested_at, "completed_at": job.completed_at,
        }

    def _describe_batch(self, job: ParseJob, batch: Batch, base_url: str) -> dict[str, Any]:
        url = ""
        if batch.status == "completed":
            url = f"{base_url.rstrip('/')}/__emulator__/downloads/{self._mint(job.id, batch.id)}"
        return {"id": batch.id, "model": job.snapshot, "status": batch.status,
                "failure_message": batch.failure_message, "download_url": url,
                "start_page": batch.start_page, "end_page": batch.end_page,
                "requested_at": batch.requested_at, "updated_at": batch.updated_at}

    def listing(self) -> dict[str, Any]:
        return {"requests": [{"id": job.id, "status": job.status, "model": job.model,
                              "requested_at": job.requested_at, "completed_at": job.completed_at}
                             for job in self.jobs.values()]}

    def _mint(self, job_id: str, batch_id: int) -> str:
        now = time.time()
        for token in [t for t, d in self.downloads.items() if d.expires_at < now - 3600]:
            del self.downloads[token]
        token = secrets.token_urlsafe(24)
        self.downloads[token] = Download(job_id, batch_id, now + self.settings.download_url_ttl_s)
        return token

    def download(self, token: str) -> bytes | None:
        """The batch JSON, or None when the URL has expired (or never existed): the caller sends 403."""
        entry = self.downloads.get(token)
        if entry is None or time.time() >= entry.expires_at:
            return None
        result = self.jobs[entry.job_id].batches[entry.batch_id].result
        return result


def _rebase_pages(result: dict[str, Any], offset: int) -> None:
    """Make element pages document-wide (DP), and OCR page numbers too."""
    if offset == 0:
        return
    for element in result.get("elements", []):
        if isinstance(element.get("page"), int):
            element["page"] += offset
    for page in result.get("metadata", {}).get("pages", []):
        if isinstance(page.get("page"), int):
            page["page"] += offset
