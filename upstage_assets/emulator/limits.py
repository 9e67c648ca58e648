"""Requests-per-second and pages-per-minute limits per endpoint group (contract section 7).

Strict sliding windows, not token buckets: a client that ever puts more than N admitted requests
into any 1-second window (or more than P pages into any 60-second window) gets a 429, which is
how a client limiter's correctness is proven against this server. Only admitted work counts,
so a client that backs off recovers after the window passes.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable

from upstage_assets.emulator.api_errors import ApiError


def busiest_window_containing(times: list[float], units: list[float], t: float, window_s: float) -> float:
    """The most units in any window [s, s + window_s) that contains ``t`` (``times`` sorted)."""
    start = bisect.bisect_right(times, t - window_s)
    if not times or t >= times[-1]:
        # In order (the usual case): nothing lies after t, so (t - w, t] is the busiest window.
        return float(sum(units[start:]))
    end = bisect.bisect_left(times, t + window_s)
    sub_times, prefix = times[start:end], [0.0]
    for value in units[start:end]:
        prefix.append(prefix[-1] + value)
    ending_at_t = bisect.bisect_right(sub_times, t)
    busiest = prefix[ending_at_t]  # the window (t - w, t]
    from_t = bisect.bisect_left(sub_times, t)
    busiest = max(busiest, prefix[bisect.bisect_left(sub_times, t + window_s)] - prefix[from_t])  # [t, t + w)
    for i in range(ending_at_t):  # windows starting at each earlier event
        hi = bisect.bisect_left(sub_times, sub_times[i] + window_s)
        busiest = max(busiest, prefix[hi] - prefix[i])
    return busiest


class SlidingWindowLimit:
    """At most ``capacity`` units in any window of ``window_s`` seconds.

    Work is stamped with its arrival time (when the request reached the server, before its body
    was read), so admission may see stamps slightly out of order; every window containing the
    new stamp is checked, not only the one ending now.
    """

    def __init__(self, capacity: float, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.capacity = capacity
        self.window_s = window_s
        self._clock = clock
        self._times: list[float] = []
        self._units: list[float] = []
        self._lock = threading.Lock()

    def try_acquire(self, units: float = 1.0, at: float | None = None) -> bool:
        with self._lock:
            now = self._clock()
            at = now if at is None else min(max(at, now - self.window_s), now)
            keep = bisect.bisect_left(self._times, now - 2 * self.window_s)
            del self._times[:keep], self._units[:keep]
            if busiest_window_containing(self._times, self._units, at, self.window_s) + units \
                    > self.capacity + 1e-9:
                return False
            index = bisect.bisect_right(self._times, at)
            self._times.insert(index, at)
            self._units.insert(index, units)
            return True


def rps_limit(rps: float, clock: Callable[[], float] = time.monotonic) -> SlidingWindowLimit:
    """N per second for N >= 1; below 1 RPS, one request per 1/rps seconds (0.5 -> 1 per 2 s)."""
    if rps <= 0:
        raise ValueError("an RPS limit must be positive")
    if rps >= 1:
        return SlidingWindowLimit(float(int(rps)), 1.0, clock)
    return SlidingWindowLimit(1.0, 1.0 / rps, clock)


class ServerRateLimits:
    """One RPS and one PPM window per configured endpoint group."""

    def __init__(self, rps: dict[str, float], ppm: dict[str, float],
                 clock: Callable[[], float] = time.monotonic):
        self._rps = {group: rps_limit(value, clock) for group, value in rps.items()}
        self._ppm = {group: SlidingWindowLimit(value, 60.0, clock) for group, value in ppm.items()}
        self._limits_rps = dict(rps)
        self._limits_ppm = dict(ppm)

    def admit_request(self, group: str, at: float | None = None) -> None:
        limit = self._rps.get(group)
        if limit is not None and not limit.try_acquire(at=at):
            raise ApiError(429, f"Too many requests: the {group} limit is {self._limits_rps[group]:g} "
                                "requests per second. Please retry after a short wait.", "rate_limit_exceeded")

    def admit_pages(self, group: str, pages: int, at: float | None = None) -> None:
        limit = self._ppm.get(group)
        if limit is None:
            return
        if pages > limit.capacity:
            # A document larger than the whole budget could never pass; say so instead of looping.
            raise ApiError(429, f"Too many pages: {pages} pages exceed the {group} limit of "
                                f"{self._limits_ppm[group]:g} pages per minute.", "page_limit_exceeded")
        if not limit.try_acquire(pages, at=at):
            raise ApiError(429, f"Too many pages: the {group} limit is {self._limits_ppm[group]:g} pages "
                                "per minute. Please retry after a short wait.", "page_limit_exceeded")
