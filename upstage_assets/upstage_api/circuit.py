"""A circuit breaker per endpoint: an outage pauses the batch instead of burning every document's retries.

When ``threshold`` requests in a row to one endpoint fail the same way (the same transport
error or the same 5xx status), the endpoint is *open*: every request to it waits, without
spending its attempts, for a pause that doubles from ``base_pause_s`` up to ``max_pause_s``;
then one request probes. A success closes the breaker and the waiting requests go on; a failed
probe re-opens it with a longer pause. After ``max_outage_s`` of one outage the breaker gives
up: requests fail with their own error (recorded against their documents, retried later) and
it starts counting afresh. Every state change is logged and reported to ``on_change`` (the run's
progress tag).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger("upstage_assets.upstage_http")


@dataclass(frozen=True)
class BreakerSettings:
    threshold: int = 5  # same failures in a row that open the breaker
    base_pause_s: float = 2.0
    max_pause_s: float = 60.0
    max_outage_s: float = 600.0  # give up on one outage after this long (default: ten minutes)


@dataclass
class _Endpoint:
    kind: str = ""
    streak: int = 0
    opened_at: float | None = None
    resume_at: float = 0.0
    pause_s: float = 0.0
    probing: bool = False
    probe_task: object | None = None  # the request (its task) sent as the probe
    gave_up: bool = False
    probe_done: asyncio.Event = field(default_factory=asyncio.Event)


class CircuitBreaker:
    def __init__(self, settings: BreakerSettings | None = None,
                 on_change: Callable[[str, str], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = settings or BreakerSettings()
        self.on_change = on_change
        self.clock = clock
        self._endpoints: dict[str, _Endpoint] = {}
        self.paused_s = 0.0  # for run metadata: how long requests waited on open breakers

    def _state(self, endpoint: str) -> _Endpoint:
        return self._endpoints.setdefault(endpoint, _Endpoint())

    def is_open(self, endpoint: str) -> bool:
        return self._state(endpoint).opened_at is not None

    async def before(self, endpoint: str) -> float:
        """Wait while the endpoint is open (one request goes through as the probe when a pause is
        over); return the seconds waited, which do not count against the request's own retry time."""
        started = self.clock()
        while True:
            state = self._state(endpoint)
            if state.opened_at is None:
                break
            now = self.clock()
            if now < state.resume_at:
                await asyncio.sleep(state.resume_at - now)
                continue
            if not state.probing:
                state.probing, state.probe_task = True, asyncio.current_task()
                state.probe_done = asyncio.Event()
                break
            if state.probe_task is asyncio.current_task():
                break  # the probe itself, sent again after an answer that settled nothing (a 429)
            await state.probe_done.wait()
        waited = self.clock() - started
        self.paused_s += waited
        return waited

    def release_probe(self, endpoint: str) -> None:
        """A request is over: if it was the probe and nothing settled the outage (a 429, an error
        raised, a cancellation), the next waiting request probes instead of all waiting forever."""
        state = self._endpoints.get(endpoint)
        if state is not None and state.probing and state.probe_task is asyncio.current_task():
            state.probing, state.probe_task = False, None
            state.probe_done.set()

    def record_success(self, endpoint: str) -> None:
        state = self._state(endpoint)
        if state.opened_at is not None:
            outage = self.clock() - state.opened_at
            self._report(endpoint, f"{endpoint} answering again after {outage:.0f} s", closed=True)
        self._endpoints[endpoint] = _Endpoint()
        state.probe_done.set()  # wake requests waiting on the probe: they find the breaker closed

    def record_failure(self, endpoint: str, kind: str) -> bool:
        """Count a failure; True when the request should be tried again without spending an attempt."""
        state = self._state(endpoint)
        if state.gave_up:  # until the endpoint answers again, requests use their own retries only
            return False
        state.streak = state.streak + 1 if kind == state.kind else 1
        state.kind = kind
        now = self.clock()
        if state.opened_at is None:
            if state.streak < self.settings.threshold:
                return False
            state.opened_at, state.pause_s = now, self.settings.base_pause_s
        elif not state.probing:
            return True  # sent before the breaker opened: just wait with the others
        else:  # the probe failed: a longer pause
            state.pause_s = min(self.settings.max_pause_s, state.pause_s * 2)
        if now - state.opened_at >= self.settings.max_outage_s:
            self._report(endpoint, f"{endpoint} still failing ({kind}) after {now - state.opened_at:.0f} s: "
                                   "giving up on this outage; its documents are recorded as failed and retried later")
            state.gave_up, state.opened_at, state.probing = True, None, False
            state.probe_done.set()
            return False
        state.resume_at = now + state.pause_s
        state.probing = False
        state.probe_done.set()
        self._report(endpoint, f"paused: every {endpoint} request fails ({kind}); next try in {state.pause_s:.0f} s, "
                               f"outage {now - state.opened_at:.0f} s of at most {self.settings.max_outage_s:.0f} s")
        return True

    def _report(self, endpoint: str, text: str, closed: bool = False) -> None:
        (logger.info if closed else logger.warning)("Upstage circuit breaker: %s", text)
        if self.on_change is not None:
            try:
                self.on_change(endpoint, "ok" if closed else text)
            except Exception:  # reporting never breaks a request
                logger.debug("circuit breaker report failed", exc_info=True)
