"""A batch that is asked to stop (SIGTERM: a Spot reclaim, a pod eviction) stops cleanly.

Spot capacity gives two minutes' notice with a SIGTERM. Dagster turns SIGTERM into an
exception raised wherever the step happens to be, which would abandon every request in
flight (already billed, never stored). Instead, while a batch runs, SIGTERM and SIGINT:

1. stop the batch from starting documents (they stay unfinished, nothing sent);
2. let each document in flight finish the stage it is in (its request answered, its result
   stored and materialized), then stop before its next stage;
3. after ``grace_s`` cancel whatever is still in flight (abandoned: the answer, if billed,
   is lost; that is the one case in which a page may be paid twice);

then the step raises ``DagsterExecutionInterruptedError``: the run fails as interrupted (not as
a step failure), so Dagster's run retries re-execute it, and the retry skips what this run
finished and resumes each unfinished document at its stage (``resume.done_in_run_group``).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class BatchShutdown:
    """Shared by one batch's document tasks: has a stop been asked for, and has grace run out."""

    grace_s: float
    requested: bool = False
    abandoning: bool = False
    signal_name: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def track(self, tasks: list[asyncio.Task[Any]]) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = tasks

    def request(self, signal_name: str = "SIGTERM") -> None:
        """Begin the drain (on the batch's loop); a second request changes nothing."""
        if self.requested:
            return
        self.requested, self.signal_name = True, signal_name
        if self._loop is not None:
            self._loop.call_later(self.grace_s, self._abandon)

    def _abandon(self) -> None:
        self.abandoning = True
        for task in self._tasks:
            if not task.done():
                task.cancel()

    def from_signal(self, signo: int, _frame: FrameType | None) -> None:
        """The signal handler: hand the request to the loop (a handler must not touch it directly)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.request, signal.Signals(signo).name)
        else:
            self.requested, self.signal_name = True, signal.Signals(signo).name


@contextmanager
def stop_signals_drain(shutdown: BatchShutdown) -> Iterator[None]:
    """Route SIGTERM/SIGINT to ``shutdown`` for the block, then put back whatever was there.

    Signal handlers can only be set from the main thread; elsewhere (a step run in a thread)
    the block runs with Dagster's own handling unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signo: signal.getsignal(signo) for signo in STOP_SIGNALS}
    try:
        for signo in STOP_SIGNALS:
            signal.signal(signo, shutdown.from_signal)
        yield
    finally:
        for signo, handler in previous.items():
            signal.signal(signo, handler if handler is not None else signal.SIG_DFL)
