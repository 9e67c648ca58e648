"""Seedable fault injection: the failures a production client must survive, on demand.

Each API request draws exactly two numbers from one seeded stream, whatever it decides, so the
n-th request gets the same fault in every run with the same seed and the same request order.
Async-job failures draw from a second stream so they don't shift the per-request sequence.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from upstage_assets.emulator.api_errors import error_response
from upstage_assets.emulator.settings import EmulatorSettings

RATE_LIMIT = "rate_limit_429"
SERVER_ERROR = "server_error_5xx"
TIMEOUT = "timeout"
TRUNCATED = "truncated_body"
MALFORMED = "malformed_body"
FAULT_KINDS = (RATE_LIMIT, SERVER_ERROR, TIMEOUT, TRUNCATED, MALFORMED)
SERVER_ERROR_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 0  # for server errors


class FaultInjector:
    def __init__(self, settings: EmulatorSettings):
        self.settings = settings
        self._rates = (
            (RATE_LIMIT, settings.fault_rate_429),
            (SERVER_ERROR, settings.fault_rate_5xx),
            (TIMEOUT, settings.fault_rate_timeout),
            (TRUNCATED, settings.fault_rate_truncated),
            (MALFORMED, settings.fault_rate_malformed),
        )
        if sum(rate for _, rate in self._rates) > 1.0 + 1e-9:
            raise ValueError("fault rates add up to more than 1")
        self._requests = random.Random(settings.seed)
        self._jobs = random.Random(None if settings.seed is None else settings.seed + 1)
        self._lock = threading.Lock()

    def draw(self) -> Fault | None:
        """The fault for the next API request, or None."""
        with self._lock:
            which, detail = self._requests.random(), self._requests.random()
        threshold = 0.0
        for kind, rate in self._rates:
            threshold += rate
            if which < threshold:
                status = SERVER_ERROR_STATUSES[int(detail * len(SERVER_ERROR_STATUSES))]
                return Fault(kind, status if kind == SERVER_ERROR else 0)
        return None

    def batch_fails(self) -> bool:
        with self._lock:
            return self._jobs.random() < self.settings.fault_rate_job_failure


def injected_error_response(fault: Fault) -> Response:
    """The immediate answer for faults that replace the real response."""
    if fault.kind == RATE_LIMIT:
        return error_response(429, "Too many requests. Please retry after a short wait.", "rate_limit_exceeded")
    messages = {500: "Internal server error", 502: "Bad gateway", 503: "Service temporarily unavailable",
                504: "Gateway timeout"}
    return error_response(fault.status, messages[fault.status], "server_error")


async def hold_for_timeout(settings: EmulatorSettings) -> Response:
    """Hold the request past any sane client timeout, then answer 504 or drop the connection."""
    await asyncio.sleep(settings.timeout_hold_s)
    if settings.timeout_mode == "close":
        return DroppedConnection()
    return error_response(504, "Gateway timeout: the request took too long", "timeout")


def malformed(response: Response) -> Response:
    """A well-framed 200 whose body is not JSON: the first half of the real body."""
    body = bytes(response.body)
    return Response(body[: max(1, len(body) // 2)], status_code=response.status_code,
                    media_type="application/json")


def truncated(response: Response) -> Response:
    """Announce the full length, send half, then drop the connection: an incomplete HTTP body."""
    return TruncatedResponse(bytes(response.body), response.status_code)


class TruncatedResponse(Response):
    def __init__(self, full_body: bytes, status_code: int):
        super().__init__(b"", status_code=status_code, media_type="application/json")
        self.full_body = full_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(self.full_body)).encode())]
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": self.full_body[: len(self.full_body) // 2],
                    "more_body": True})
        # Returning with the body incomplete makes uvicorn close the connection mid-body.


class DroppedConnection(Response):
    """Headers promise a body that never comes; the connection closes."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
