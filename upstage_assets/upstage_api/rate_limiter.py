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


#: Seconds by which the server may count one request later than another whose bytes went out at
#: once (the path's jitter, not its latency; stalls of our own event loop are dated by ``mark_sent``).
#: The emulator on loopback counts within 7 ms (bench/results/throughput.md).
DEFAULT_MAX_SKEW_S = 0.015
#: The fraction of the request rate the buckets leave unused (see ``RateLimiter``).
DEFAULT_HEADROOM = 0.015


def send_window(requests_per_second: float) -> tuple[int, float]:
    """The strict form of a rate: N per second for N >= 1, else one per 1/rate seconds."""
    if requests_per_second >= 1:
        return int(requests_per_second), 1.0
    return 1, 1.0 / requests_per_second


@dataclass
class SendTicket:
    """One request's passage: its bucket slot is taken; its place in the send log comes at the wire."""

    name: str
    capacity: int
    window_s: float
    token: str | None = None


@dataclass
class RateLimiter:
    """Waits for a request slot on ``endpoint``; ``account`` separates buckets of different keys.

    Two layers: token buckets give each request a slot (smooth spacing, first come first
    served, one transaction); then, as its first bytes go out (``admit``, called by the HTTP
    transport), a shared log of sends refuses to let more than the limit into any one-second
    window. A strict server counts a request when it reads it, anywhere between our send and
    its answer: a send therefore occupies the window from then until its answer arrives, at
    most ``max_skew_s`` later. Fast answers keep the window tight; a stalled server stretches
    it, so the requests it held back cannot land in one window with the ones after them.
    ``headroom`` is the fraction of the request rate left unused to keep the two layers apart.

    The log admits a send on the wire, not when its bucket slot comes: between the two lie the
    connection pool and the event loop, which on a busy host hold one request 10-100 ms and the
    next one not at all. Dated at its slot, that spread bunched arrivals into 429s, and
    covering it with a wider guard cost the rate (``bench/results/throughput.md``). Once its
    bytes are out, ``mark_sent`` dates it again: the write itself yields to the event loop, and
    a full garbage collection there (100-190 ms with Dagster loaded) would otherwise date it early.

    The guard's price: N sends per window + ``max_skew_s``, i.e. the rate times 1/(1 + skew).
    Only the spread of send-to-count delays can bunch arrivals (a constant delay shifts every
    request alike), so the default covers the jitter of a network path, not its latency.
    """

    store: SharedStateStore
    limits: dict[str, EndpointLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    account: str = "default"
    max_in_flight: int = 8
    max_wait_s: float = 600.0
    headroom: float = DEFAULT_HEADROOM
    max_skew_s: float = DEFAULT_MAX_SKEW_S
    _in_flight: dict[tuple[int, str], asyncio.Semaphore] = field(default_factory=dict, init=False, repr=False)
    waited_s: float = field(default=0.0, init=False)

    def charges(self, endpoint: str, pages: int) -> list[BucketCharge]:
        limit = self.limits.get(endpoint)
        if limit is None:
            return []
        prefix = f"{self.account}:{endpoint}"
        # Headroom keeps the buckets' even spacing below the send log's strict count, so the log
        # seldom has to hold a request back.
        rate = limit.requests_per_second * (1.0 - self.headroom)
        charges = [BucketCharge(f"{prefix}:rps", rate, max(1.0, limit.burst), 1.0)]
        if limit.pages_per_minute and pages > 0:
            per_minute = limit.pages_per_minute
            charges.append(BucketCharge(f"{prefix}:ppm", per_minute / 60.0, per_minute, float(pages)))
        return charges

    async def acquire(self, endpoint: str, pages: int = 0) -> SendTicket | None:
        """Reserve one request (and ``pages`` pages) and sleep until its bucket slot comes.

        Returns the ticket to ``admit`` when the request goes out and ``release`` when its answer
        arrives (``None``: endpoint unlimited).
        """
        charges = self.charges(endpoint, pages)
        if not charges:
            return None
        wait, ready_at = await self._call(self.store.take_tokens, charges, self.max_wait_s)
        if wait > self.max_wait_s:
            raise UpstageRateLimited(
                f"client rate limit for {endpoint}: the next slot is {wait:.0f} s away "
                f"(more than max_wait_s={self.max_wait_s:.0f})", path=endpoint)
        if wait > 0:
            await asyncio.sleep(max(0.0, ready_at - time.time()))
        self.waited_s += wait
        capacity, window = send_window(self.limits[endpoint].requests_per_second)
        return SendTicket(f"{self.account}:{endpoint}:sends", capacity, window)

    async def admit(self, ticket: SendTicket) -> None:
        """The request is about to go out: wait until the send log has room in the window ending now."""
        while ticket.token is None:
            guard, ticket.token = await self._call(
                self.store.admit_send, ticket.name, ticket.capacity, ticket.window_s, self.max_skew_s)
            if ticket.token is None:
                self.waited_s += guard
                await asyncio.sleep(guard)

    async def mark_sent(self, ticket: SendTicket) -> None:
        """The request's bytes are out: a stall between its admission and its write must not date it early."""
        if ticket.token is not None:
            await self._call(self.store.mark_sent, ticket.name, ticket.token, self.max_skew_s)

    async def release(self, ticket: SendTicket | None) -> None:
        """The answer arrived: the server has counted the request, so its window can close sooner."""
        if ticket is not None and ticket.token is not None:
            await self._call(self.store.complete_send, ticket.name, ticket.token)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store call inline when it is a local file, in a thread when it is a network hop."""
        if self.store.fast_enough_inline:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    @asynccontextmanager
    async def in_flight(self, endpoint: str) -> AsyncIterator[None]:
        """Hold one of ``endpoint``'s ``max_in_flight`` slots for the duration of one HTTP request.

        It comes before the rate slot so that requests released together by a full pool are
        still spaced by the buckets. Slots are per endpoint: a request waits for its rate slot
        while holding its in-flight slot, so with one shared pool a queue of parses waiting on
        the parse rate would hold every slot and starve the extractions behind them (a batch
        ran its parses, then its extractions: half the rate).
        """
        key = (id(asyncio.get_running_loop()), endpoint)  # a semaphore belongs to one event loop
        semaphore = self._in_flight.get(key)
        if semaphore is None:
            semaphore = self._in_flight[key] = asyncio.Semaphore(self.max_in_flight)
        async with semaphore:
            yield

    @asynccontextmanager
    async def rate_slot(self, endpoint: str, pages: int = 0) -> AsyncIterator[SendTicket | None]:
        """Wait for a bucket slot; yield the ticket (``None``: endpoint unlimited) to ``admit`` as the
        request goes out, and release it when the answer is in."""
        ticket = await self.acquire(endpoint, pages)
        try:
            yield ticket
        finally:
            await self.release(ticket)

    @asynccontextmanager
    async def slot(self, endpoint: str, pages: int = 0) -> AsyncIterator[None]:
        """In-flight slot, rate slot and send-log admission at once, for a caller that sends right
        after it (``UpstageHttp`` instead admits each request on the wire, from its transport)."""
        async with self.in_flight(endpoint), self.rate_slot(endpoint, pages) as ticket:
            if ticket is not None:
                await self.admit(ticket)
            yield
