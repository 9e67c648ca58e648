"""Requests-per-second and pages-per-minute limits per endpoint group (contract section 7).

Strict sliding windows, not token buckets: a client that ever puts more than N admitted requests
into any 1-second window (or more than P pages into any 60-second window) gets a 429, which is
how a client limiter's correctness is proven against this server. Only admitted work counts,
so a client that backs off recovers after the window passes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from upstage_assets.emulator.api_errors import ApiError


class SlidingWindowLimit:
    """At most ``capacity`` units in any window of ``window_s`` seconds."""

    def __init__(self, capacity: float, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.capacity = capacity
        self.window_s = window_s
        self._clock = clock
        self._events: deque[tuple[float, float]] = deque()  # (time, units)
        self._used = 0.0
        self._lock = threading.Lock()

    def try_acquire(self, units: float = 1.0) -> bool:
        with self._lock:
            now = self._clock()
            while self._events and self._events[0][0] <= now - self.window_s:
                self._used -= self._events.popleft()[1]
            if self._used + units > self.capacity + 1e-9:
                return False
            self._events.append((now, units))
            self._used += units
            return True


def rps_limit(rps: float, clock: Callable[[], float] = time.monotonic) -> SlidingWindowLimit:
    """N per second for N >= 1; below 1 RPS, one request per 1/rps seconds (0.5 -> 1 per 2 s)."""
    if rps <= 0:
        raise ValueError("an RPS limit must be positive")
    if rps >= 1:
        return SlidingWindowLimit(float(int(rps)), 1.0, clock)
    return SlidingWindowLimit(1.0, 1.0 / rps, clock)


class RateLimiter:
    """One RPS and one PPM window per configured endpoint group."""

    def __init__(self, rps: dict[str, float], ppm: dict[str, float],
                 clock: Callable[[], float] = time.monotonic):
        self._rps = {group: rps_limit(value, clock) for group, value in rps.items()}
        self._ppm = {group: SlidingWindowLimit(value, 60.0, clock) for group, value in ppm.items()}
        self._limits_rps = dict(rps)
        self._limits_ppm = dict(ppm)

    def admit_request(self, group: str) -> None:
        limit = self._rps.get(group)
        if limit is not None and not limit.try_acquire():
            raise ApiError(429, f"Too many requests: the {group} limit is {self._limits_rps[group]:g} "
                                "requests per second. Please retry after a short wait.", "rate_limit_exceeded")

    def admit_pages(self, group: str, pages: int) -> None:
        limit = self._ppm.get(group)
        if limit is None:
            return
        if pages > limit.capacity:
            # A document larger than the whole budget could never pass; say so instead of looping.
            raise ApiError(429, f"Too many pages: {pages} pages exceed the {group} limit of "
                                f"{self._limits_ppm[group]:g} pages per minute.", "page_limit_exceeded")
        if not limit.try_acquire(pages):
            raise ApiError(429, f"Too many pages: the {group} limit is {self._limits_ppm[group]:g} pages "
                                "per minute. Please retry after a short wait.", "page_limit_exceeded")
