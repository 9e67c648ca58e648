"""Client-side rate limits that hold across every process and run sharing one Upstage account.

Upstage meters requests per second and pages per minute per product (contract section 7) and
answers 429 past them. Each endpoint gets two token buckets (requests/s, pages/min) kept in a
``SharedStateStore`` (SQLite on one host, PostgreSQL across hosts), so N concurrent runs send
together no faster than the account allows, plus a cap on requests in flight per process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from upstage_assets.upstage_api.errors import UpstageRateLimited
from upstage_assets.upstage_api.shared_state import BucketCharge, SharedStateStore

T = TypeVar("T")


@dataclass(frozen=True)
class EndpointLimits:
    """``burst`` is how many requests may go back to back; 1 spaces them evenly (no peak above the rate)."""

    requests_per_second: float
    pages_per_minute: float | None = None
    burst: float = 1.0


# Conservative defaults: Upstage's tier-0 numbers (contract section 7).
DEFAULT_LIMITS: dict[str, EndpointLimits] = {
    "document-parse": EndpointLimits(requests_per_second=1.0, pages_per_minute=300.0),
    "document-parse-async": EndpointLimits(requests_per_second=2.0, pages_per_minute=1200.0),
    "ocr": EndpointLimits(requests_per_second=1.0, pages_per_minute=300.0),
    "information-extraction": EndpointLimits(requests_per_second=1.0),
    "poll": EndpointLimits(requests_per_second=2.0),
}


#: Seconds by which the server may count one request later than another sent at once (jitter).
DEFAULT_MAX_SKEW_S = 0.03


def send_window(requests_per_second: float) -> tuple[int, float]:
    """The strict form of a rate: N per second for N >= 1, else one per 1/rate seconds."""
    if requests_per_second >= 1:
        return int(requests_per_second), 1.0
    return 1, 1.0 / requests_per_second


@dataclass(frozen=True)
class SendTicket:
    name: str
    token: str
    waited_s: float


@dataclass
class RateLimiter:
    """Waits for a request slot on ``endpoint``; ``account`` separates buckets of different keys.

    Two layers: token buckets give each request a slot (smooth spacing, first come first
    served, one transaction); then, at send time, a shared log of sends refuses to let more
    than the limit into any one-second window. A strict server counts a request when it reads
    it, anywhere between our send and its answer: a send therefore occupies the window from
    its send until its answer arrives, at most ``max_skew_s`` after the send. Fast answers
    keep the window tight; a stalled server or a descheduled process stretches it, so the
    requests it held back cannot land in one window with the ones after them.
    ``headroom`` is the fraction of the request rate left unused to keep the two layers apart.

    The guard's price: N sends per window + ``max_skew_s``, i.e. the rate times 1/(1 + skew).
    Only the spread of send-to-count delays can bunch arrivals (a constant delay shifts every
    request alike), so the default covers the jitter of a network path, not its latency.
    """

    store: SharedStateStore
    limits: dict[str, EndpointLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    account: str = "default"
    max_in_flight: int = 8
    max_wait_s: float = 600.0
    headroom: float = 0.02
    max_skew_s: float = DEFAULT_MAX_SKEW_S
    _in_flight: dict[tuple[int, str], asyncio.Semaphore] = field(default_factory=dict, init=False, repr=False)
    waited_s: float = field(default=0.0, init=False)

    def charges(self, endpoint: str, pages: int) -> list[BucketCharge]:
        limit = self.limits.get(endpoint)
        if limit is None:
            return []
        prefix = f"{self.account}:{endpoint}"
        # Headroom absorbs send jitter: at exactly 1/rate spacing one late request lets a 1 s
        # window at the server hold rate + 1 requests.
        rate = limit.requests_per_second * (1.0 - self.headroom)
        charges = [BucketCharge(f"{prefix}:rps", rate, max(1.0, limit.burst), 1.0)]
        if limit.pages_per_minute and pages > 0:
            per_minute = limit.pages_per_minute
            charges.append(BucketCharge(f"{prefix}:ppm", per_minute / 60.0, per_minute, float(pages)))
        return charges

    async def acquire(self, endpoint: str, pages: int = 0) -> SendTicket | None:
        """Reserve one request (and ``pages`` pages), sleep until it may go, and admit it.

        Returns the ticket to ``release`` when the answer arrives (``None``: endpoint unlimited).
        """
        charges = self.charges(endpoint, pages)
        if not charges:
            return None
        capacity, window = send_window(self.limits[endpoint].requests_per_second)
        name = f"{self.account}:{endpoint}:sends"
        wait, ready_at, token = await self._call(
            self.store.take_and_admit, charges, self.max_wait_s, name, capacity, window, self.max_skew_s)
        if wait > self.max_wait_s:
            raise UpstageRateLimited(
                f"client rate limit for {endpoint}: the next slot is {wait:.0f} s away "
                f"(more than max_wait_s={self.max_wait_s:.0f})", path=endpoint)
        if wait > 0:
            await asyncio.sleep(max(0.0, ready_at - time.time()))
        while token is None:
            guard, token = await self._call(self.store.admit_send, name, capacity, window, self.max_skew_s)
            if token is None:
                wait += guard
                await asyncio.sleep(guard)
        self.waited_s += wait
        return SendTicket(name, token, wait)

    async def release(self, ticket: SendTicket | None) -> None:
        """The answer arrived: the server has counted the request, so its window can close sooner."""
        if ticket is not None:
            await self._call(self.store.complete_send, ticket.name, ticket.token)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store call inline when it is a local file, in a thread when it is a network hop."""
        if self.store.fast_enough_inline:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    @asynccontextmanager
    async def slot(self, endpoint: str, pages: int = 0) -> AsyncIterator[None]:
        """Hold an in-flight slot, then a rate slot, for the duration of one HTTP request.

        The in-flight slot comes first so that requests released together by a full pool
        are still spaced by the buckets. Slots are per endpoint (``max_in_flight`` each): a
        request waits for its rate slot while holding its in-flight slot, so with one shared
        pool a queue of parses waiting on the parse rate would hold every slot and starve the
        extractions behind them (a batch ran its parses, then its extractions: half the rate).
        """
        key = (id(asyncio.get_running_loop()), endpoint)  # a semaphore belongs to one event loop
        semaphore = self._in_flight.get(key)
        if semaphore is None:
            semaphore = self._in_flight[key] = asyncio.Semaphore(self.max_in_flight)
        async with semaphore:
            ticket = await self.acquire(endpoint, pages)
            try:
                yield
            finally:
                await self.release(ticket)
