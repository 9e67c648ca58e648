"""What the emulator saw, served at GET /__emulator__/stats for tests and benchmarks.

Billing per document (``billed_by_document``: SHA-256 of the bytes -> endpoint group -> answers
and pages) counts every answer delivered whole with status 200, whether or not the client kept
it: a client that abandons an answer it was billed for and asks again shows as two answers.

Peak RPS is measured over a 1-second sliding window of *arrivals* per endpoint group (rejected
requests included), so a benchmark can show that a client's own limiter kept under the limit.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from upstage_assets.emulator.limits import busiest_window_containing


class EmulatorStats:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._ones = [1.0] * 4096  # unit weights for the window helper, reused
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._started = self._clock()
            self._requests_by_route: Counter[str] = Counter()
            self._requests_by_group: Counter[str] = Counter()
            self._responses_by_status: Counter[int] = Counter()
            self._rate_limited: Counter[str] = Counter()  # 429s from the configured limits
            self._faults: Counter[str] = Counter()
            self._pages_by_group: Counter[str] = Counter()
            self._billed: dict[str, dict[str, list[int]]] = {}
            self._arrivals: dict[str, list[float]] = {}
            self._peak_rps: dict[str, int] = {}

    def record_route(self, route: str) -> None:
        with self._lock:
            self._requests_by_route[route] += 1

    def record_request_group(self, group: str, at: float | None = None) -> None:
        """Count an arrival stamped when the request reached the server (may be slightly out of order)."""
        now = self._clock()
        at = now if at is None else min(at, now)
        with self._lock:
            self._requests_by_group[group] += 1
            arrivals = self._arrivals.setdefault(group, [])
            del arrivals[:bisect.bisect_left(arrivals, now - 3.0)]
            ones = self._ones[:len(arrivals)] if len(self._ones) >= len(arrivals) else [1.0] * len(arrivals)
            busiest = busiest_window_containing(arrivals, ones, at, 1.0) + 1
            bisect.insort(arrivals, at)
            self._peak_rps[group] = max(self._peak_rps.get(group, 0), int(busiest))

    def record_status(self, status: int) -> None:
        with self._lock:
            self._responses_by_status[status] += 1

    def record_rate_limited(self, group: str) -> None:
        with self._lock:
            self._rate_limited[group] += 1

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def record_pages(self, group: str, pages: int) -> None:
        with self._lock:
            self._pages_by_group[group] += pages

    def record_billed_document(self, sha256: str, group: str, pages: int) -> None:
        with self._lock:
            answers_pages = self._billed.setdefault(sha256, {}).setdefault(group, [0, 0])
            answers_pages[0] += 1
            answers_pages[1] += pages

    def snapshot(self, per_document: bool = True) -> dict[str, Any]:
        """Everything counted; ``per_document=False`` leaves out ``billed_by_document``, which grows with
        every document billed: a poller that only wants the counters (a benchmark, twice a second) would
        otherwise have the server build and encode 10,000 entries each time, stalling it as it stamps
        arrivals."""
        with self._lock:
            injected_429 = self._faults.get("rate_limit_429", 0)
            return {
                "uptime_s": round(self._clock() - self._started, 3),
                "requests_total": sum(self._requests_by_route.values()),
                "requests_by_route": dict(self._requests_by_route),
                "requests_by_endpoint": dict(self._requests_by_group),
                "responses_by_status": {str(k): v for k, v in sorted(self._responses_by_status.items())},
                "rate_limited_429": {
                    "total": sum(self._rate_limited.values()) + injected_429,
                    "rate_limit": sum(self._rate_limited.values()),
                    "injected": injected_429,
                    "rate_limit_by_endpoint": dict(self._rate_limited),
                },
                "faults_injected": dict(self._faults),
                "pages_processed_by_endpoint": dict(self._pages_by_group),
                "peak_rps_by_endpoint": dict(self._peak_rps),
            } | ({"billed_by_document": {sha: {group: {"answers": a, "pages": p} for group, (a, p) in groups.items()}
                                         for sha, groups in self._billed.items()}} if per_document else {})
