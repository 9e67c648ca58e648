"""Async Information Extraction jobs (contract section 4): one batch per document.

CREATED for ``async_queue_s``, then IN_PROGRESS while each document is extracted (at least
``async_batch_s`` each), ending COMPLETED, PARTIALLY_COMPLETED or FAILED. Results appear in the
poll only with ``?with_result=true``, as in the API.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from upstage_assets.emulator.api_errors import ApiError
from upstage_assets.emulator.background import BackgroundTasks
from upstage_assets.emulator.engine import Engine
from upstage_assets.emulator.extraction import extract_document
from upstage_assets.emulator.faults import FaultInjector
from upstage_assets.emulator.jobs import utc_now
from upstage_assets.emulator.settings import EmulatorSettings

ASYNC_MAX_PAGES = 1000


@dataclass
class ExtractBatch:
    id: int
    file_name: str
    status: str = "CREATED"
    failure_message: str = ""
    result: dict[str, Any] | None = None


@dataclass
class ExtractJob:
    job_id: str
    model: str
    batches: list[ExtractBatch]
    status: str = "CREATED"
    created_at: str = field(default_factory=utc_now)
    started_at: str | None = None
    completed_at: str | None = None

    def describe(self, with_result: bool) -> dict[str, Any]:
        batches = []
        for batch in self.batches:
            entry: dict[str, Any] = {"id": batch.id, "file_name": batch.file_name, "status": batch.status,
                                     "failure_message": batch.failure_message}
            if with_result:
                entry["result"] = batch.result
            batches.append(entry)
        return {"job_id": self.job_id, "status": self.status, "model": self.model,
                "total_documents": len(self.batches),
                "completed_documents": sum(b.status == "COMPLETED" for b in self.batches),
                "created_at": self.created_at, "started_at": self.started_at,
                "completed_at": self.completed_at, "batches": batches}


class ExtractJobStore:
    def __init__(self, settings: EmulatorSettings, engine: Engine, faults: FaultInjector):
        self.settings = settings
        self.engine = engine
        self.faults = faults
        self.jobs: dict[str, ExtractJob] = {}
        self._tasks = BackgroundTasks()

    def submit(self, documents: list[tuple[str, bytes]], response_format: dict[str, Any]) -> ExtractJob:
        batches = [ExtractBatch(i + 1, name) for i, (name, _) in enumerate(documents)]
        job = ExtractJob(str(uuid.uuid4()), self.settings.ie_snapshot, batches)
        self.jobs[job.job_id] = job
        self._tasks.start(self._run(job, [data for _, data in documents], response_format))
        return job

    async def close(self) -> None:
        await self._tasks.close()

    async def _run(self, job: ExtractJob, documents: list[bytes], response_format: dict[str, Any]) -> None:
        await asyncio.sleep(self.settings.async_queue_s)
        job.status, job.started_at = "IN_PROGRESS", utc_now()
        for batch, data in zip(job.batches, documents, strict=True):
            started = time.monotonic()
            batch.status = "IN_PROGRESS"
            try:
                if self.faults.batch_fails():
                    raise ApiError(500, "internal error while extracting the document (injected)")
                batch.result = await extract_document(self.settings, self.engine, data, response_format, location=False,
                                                      confidence=False, max_pages=ASYNC_MAX_PAGES)
                batch.status = "COMPLETED"
            except ApiError as exc:
                batch.status, batch.failure_message = "FAILED", exc.message
            except Exception as exc:  # engine bugs fail the document, never hang the job
                batch.status, batch.failure_message = "FAILED", f"internal error: {type(exc).__name__}"
            await asyncio.sleep(max(0.0, self.settings.async_batch_s - (time.monotonic() - started)))
        done = sum(b.status == "COMPLETED" for b in job.batches)
        job.status = "COMPLETED" if done == len(job.batches) else "FAILED" if done == 0 else "PARTIALLY_COMPLETED"
        job.completed_at = utc_now()

    def get(self, job_id: str) -> ExtractJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"job {job_id!r} not found", "job_not_found")
        return job

    def listing(self) -> dict[str, Any]:
        return {"jobs": [{"job_id": j.job_id, "status": j.status, "model": j.model, "created_at": j.created_at,
                          "completed_at": j.completed_at} for j in self.jobs.values()]}
