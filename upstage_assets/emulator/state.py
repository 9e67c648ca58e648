"""Shared state of one emulator instance, and the per-request gate every API call goes through.

The gate orders things as a real API gateway would: auth, then the endpoint's rate limit, then
(for testing clients) an injected fault, then the handler; the response is then held until the
configured latency has passed, so latency is a floor, not an addition to engine time.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from upstage_assets.emulator.api_errors import ApiError
from upstage_assets.emulator.engine import Engine
from upstage_assets.emulator.extract_jobs import ExtractJobStore
from upstage_assets.emulator.faults import (
    RATE_LIMIT,
    SERVER_ERROR,
    TIMEOUT,
    Fault,
    FaultInjector,
    hold_for_timeout,
    injected_error_response,
)
from upstage_assets.emulator.jobs import ParseJobStore
from upstage_assets.emulator.limits import ServerRateLimits
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.emulator.stats import EmulatorStats


class EmulatorState:
    def __init__(self, settings: EmulatorSettings):
        self.settings = settings
        self.stats = EmulatorStats()
        self.limiter = ServerRateLimits(settings.rps_limits, settings.ppm_limits)
        self.faults = FaultInjector(settings)
        self.engine = Engine(settings)
        self.parse_jobs = ParseJobStore(settings, self.engine, self.faults)
        self.extract_jobs = ExtractJobStore(settings, self.engine, self.faults)
        self._latency_rng = random.Random(None if settings.seed is None else settings.seed + 2)
        self._latency_lock = threading.Lock()

    def latency_for(self, pages: int) -> float:
        s = self.settings
        with self._latency_lock:
            jitter = self._latency_rng.uniform(0.0, s.latency_jitter_s) if s.latency_jitter_s > 0 else 0.0
        return s.latency_s + s.latency_per_page_s * pages + jitter


class InjectedResponse(Exception):
    """Carries a response that replaces the handler's (an injected fault or a held timeout)."""

    def __init__(self, response: Response):
        super().__init__("injected response")
        self.response = response


class ApiCall:
    """One API request's passage through limits and faults; handlers call ``admit`` first."""

    def __init__(self, state: EmulatorState, request: Request, gated: bool = True):
        self.state = state
        self.request = request
        self.gated = gated  # False: a benchmark warm-up call, outside limits, faults, latency and stats
        self.started = time.monotonic()
        self.group: str | None = None
        self.pages = 0
        self.fault: Fault | None = None
        self.document_sha256: str | None = None  # whose pages these are, for per-document billing

    async def admit(self, group: str) -> None:
        """Count the arrival, apply the RPS limit, then draw this request's fault."""
        if not self.gated:
            return
        self.group = group
        self.state.stats.record_request_group(group, at=self.started)
        try:
            self.state.limiter.admit_request(group, at=self.started)
        except ApiError:
            self.state.stats.record_rate_limited(group)
            raise
        fault = self.state.faults.draw()
        if fault is None:
            return
        self.state.stats.record_fault(fault.kind)
        if fault.kind in (RATE_LIMIT, SERVER_ERROR):
            raise InjectedResponse(injected_error_response(fault))
        if fault.kind == TIMEOUT:
            raise InjectedResponse(await hold_for_timeout(self.state.settings))
        self.fault = fault  # truncated / malformed: mangle the real response later

    def admit_pages(self, pages: int, document: bytes | None = None) -> None:
        self.pages = pages
        if not self.gated:
            return
        assert self.group is not None, "admit() first"
        if document is not None:
            self.document_sha256 = hashlib.sha256(document).hexdigest()
        try:
            self.state.limiter.admit_pages(self.group, pages, at=self.started)
        except ApiError:
            self.state.stats.record_rate_limited(self.group)
            raise
        self.state.stats.record_pages(self.group, pages)

    async def hold_for_latency(self) -> None:
        remaining = self.state.latency_for(self.pages) - (time.monotonic() - self.started)
        if remaining > 0:
            await asyncio.sleep(remaining)


async def read_form(request: Request, max_bytes: int) -> FormData:
    """Parse multipart/url-encoded fields, refusing bodies that are obviously too large unread."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 1024 * 1024:
        raise ApiError(413, f"document too large: the request body is {int(declared):,} bytes; "
                            f"the limit is {max_bytes:,} bytes", "document_too_large")
    try:
        return await request.form(max_files=64, max_fields=256)
    except Exception as exc:  # malformed multipart
        raise ApiError(400, f"cannot read the form body: {exc}", "invalid_request") from None


def form_fields(form: FormData) -> dict[str, Any]:
    """Fields by name; a repeated field becomes a list (httpx sends list values that way)."""
    fields: dict[str, Any] = {}
    for name, value in form.multi_items():
        if name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return fields


async def read_document(fields: dict[str, Any], name: str = "document") -> tuple[bytes, str]:
    upload = fields.get(name)
    if isinstance(upload, list):
        upload = upload[0]
    if upload is None:
        raise ApiError(400, f"no document: the multipart field {name!r} is required", "no_document")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, f"no document: {name!r} must be a file part", "no_document")
    return await upload.read(), upload.filename or "document"
