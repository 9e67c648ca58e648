"""Where the account's rate limit sat idle during a measurement: the emulator's requests over time.

A platform that reaches 80% of the limit loses the other 20% somewhere: before the first request (the
backfill's runs being created and launched), between runs (a run's last requests answered, its successor
not sending yet), or at the end (the last documents' later stages). ``ApiUse`` polls the emulator's
request counters every ``every_s`` while the measurement runs; ``summary`` splits the unused capacity
into those three parts, in seconds of the limit, so a change can be judged by the part it was meant to
shrink. The emulator's 429s are split the same way: where they come says what drew them (runs
starting, runs ending, or the steady state).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from harness import emulator_stats

BUSY = 0.9  # a sample at this fraction of the limit or more counts as the limit in use
REJECTED = "429s"  # the emulator's 429s so far, kept in a sample beside the endpoints' request counts


@dataclass
class ApiUse:
    url: str  # the emulator's base URL
    limit_rps: float  # requests/s per endpoint the account allows
    every_s: float = 0.5
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # (seconds, requests so far)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def __enter__(self) -> ApiUse:
        self._started = time.monotonic()
        self.samples.append((0.0, self._counts()))
        self._thread = threading.Thread(target=self._poll, name="api-use", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.samples.append((time.monotonic() - self._started, self._counts()))

    def _counts(self) -> dict[str, int]:
        stats = emulator_stats(self.url)
        counts = {k: int(v) for k, v in stats["requests_by_endpoint"].items()}
        counts[REJECTED] = int(stats["rate_limited_429"]["total"])
        return counts

    def _poll(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.samples.append((time.monotonic() - self._started, self._counts()))
            except OSError:  # a busy emulator answers late: the next sample covers the interval
                continue

    def rates(self) -> list[tuple[float, float, float]]:
        """(start, end, requests/s per endpoint) per sampling interval, averaged over the endpoints that
        were called: a document needs each of them once, so this is the limit's use in documents/s."""
        called = [k for k, v in (self.samples[-1][1] if self.samples else {}).items() if v and k != REJECTED]
        out = []
        for (t0, c0), (t1, c1) in zip(self.samples, self.samples[1:], strict=False):
            if t1 > t0 and called:
                sent = sum(c1.get(k, 0) - c0.get(k, 0) for k in called) / len(called)
                out.append((t0, t1, sent / (t1 - t0)))
        return out

    def summary(self, seconds: float) -> str:
        """Unused capacity over ``seconds`` (the measured span), in seconds at the limit: before the
        endpoints first reached ``BUSY`` of the limit, after they last did, and in between."""
        rates = self.rates()
        if not rates:
            return "API use not sampled"
        busy = [i for i, (_, _, rps) in enumerate(rates) if rps >= BUSY * self.limit_rps]
        if not busy:
            return f"the API never reached {BUSY:.0%} of the limit"
        first, last = busy[0], busy[-1]

        def lost(part: list[tuple[float, float, float]]) -> float:
            return sum(max(0.0, self.limit_rps - rps) * (t1 - t0) for t0, t1, rps in part) / self.limit_rps

        end = rates[last][1]
        tail = lost(rates[last + 1:]) + max(0.0, seconds - rates[-1][1])
        text = (f"limit unused (seconds of it): start {lost(rates[:first]):.1f} "
                f"(busy from {rates[first][0]:.1f} s), between {lost(rates[first:last + 1]):.1f}, "
                f"end {tail:.1f} (busy until {end:.1f} s)")
        rejected = [c1.get(REJECTED, 0) - c0.get(REJECTED, 0)
                    for (_, c0), (_, c1) in zip(self.samples, self.samples[1:], strict=False)]
        if any(rejected):
            text += (f"; 429s: start {sum(rejected[:first])}, between {sum(rejected[first:last + 1])}, "
                     f"end {sum(rejected[last + 1:])}, at most {max(rejected)} in one {self.every_s:g} s sample")
        return text
