"""Dagster's bookkeeping off the batch's event loop: the async pipeline runs in its own thread.

Writing one event to the event log takes 10-30 ms (SQLite, PostgreSQL), several times per
document. Called on the event loop, every write stops the whole HTTP fan-out: no response is
read and no request is sent meanwhile, so the API's rate limit sits idle. Here the batch's
event loop runs in a worker thread and hands every Dagster call (materializations, log
lines, run tags) through a queue to the step's own thread, which makes them in order; the
step's context is thus still used from one thread only.

What a crash costs is unchanged: a materialization is logged only after its stage's result is
stored, and a document waits for its materialization (``DeferredContext.logged``: the document
waits, the loop does not) before its next stage and before it gives up its concurrency slot. A
resumed run skips only the stages the event log has, so a SIGKILL makes it pay again for at most
the documents that held a slot, as when the loop wrote the events itself. Log lines and progress
tags are not waited for; ``caught_up`` keeps them at most ``max_backlog`` calls behind.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from upstage_assets.defs.pipeline.bookkeeping import log_event_patiently

T = TypeVar("T")
_DONE = object()
POLL_S = 0.2  # the step thread wakes this often, so Dagster's interrupts (SIGTERM/SIGINT) are seen
UNWIND_S = 30.0  # after an interrupt: how long the step's thread keeps logging what the unwinding batch hands over


class StepBridge:
    """Runs a coroutine on a worker thread while the calling thread carries out its deferred calls."""

    def __init__(self, max_backlog: int = 64):
        self.max_backlog = max_backlog
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self.deferred = 0  # calls handed over (for the step's summary and tests)
        self.busy_s = 0.0  # time the step's thread spent in them: Dagster's bookkeeping, off the loop

    def defer(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Have the step's thread call ``fn(*args, **kwargs)``, in order, without waiting for it."""
        self.deferred += 1
        self._queue.put((fn, args, kwargs))

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def caught_up(self) -> None:
        """Wait (without blocking the loop) while the step's thread is more than ``max_backlog`` behind."""
        while self._queue.qsize() > self.max_backlog:
            await asyncio.sleep(0.005)

    async def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Have the step's thread call ``fn(*args)``; wait, without blocking the loop, until it has.

        Only the awaiting coroutine waits (one document); the loop goes on with the others. A call
        that raises still wakes it, and the error is raised by ``run`` after the batch as usual.
        """
        loop = asyncio.get_running_loop()
        made = loop.create_future()

        def wake() -> None:
            if not made.done():
                made.set_result(None)

        def call_then_wake() -> None:
            try:
                fn(*args)
            finally:
                try:
                    loop.call_soon_threadsafe(wake)
                except RuntimeError:  # the loop is closed (the batch was cancelled): nobody waits
                    pass

        self.defer(call_then_wake)
        await made

    def run(self, make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``asyncio.run(make_coroutine())`` on a worker thread; deferred calls run here meanwhile.

        A deferred call that raises does not stop the batch; the first such error is raised here
        once the batch is over. An interrupt raised in this thread (Dagster maps SIGTERM/SIGINT to
        one) cancels the batch and, while it unwinds (up to ``UNWIND_S``), still makes the calls it
        hands over (the materializations of the rows its last table commit holds), then propagates.
        """
        box: dict[str, Any] = {}

        async def main() -> T:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            return await make_coroutine()

        def worker() -> None:
            try:
                box["value"] = asyncio.run(main())
            except BaseException as exc:  # handed to the step's thread, which raises it
                box["error"] = exc
            finally:
                self._queue.put(_DONE)

        thread = threading.Thread(target=worker, name="document-pipeline", daemon=True)
        thread.start()
        try:
            first_error = self._carry_out(deadline=None)
        except BaseException:
            self._cancel()
            self._carry_out(deadline=time.monotonic() + UNWIND_S)
            thread.join(timeout=1)
            raise
        thread.join()
        if "error" in box:
            raise box["error"]
        if first_error is not None:
            raise first_error
        return box["value"]

    def _carry_out(self, deadline: float | None) -> BaseException | None:
        """Make the deferred calls in order until the batch is over (or ``deadline``); the first error."""
        first_error: BaseException | None = None
        while deadline is None or time.monotonic() < deadline:
            try:
                item = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if item is _DONE:
                break
            fn, args, kwargs = item
            began = time.perf_counter()
            try:
                fn(*args, **kwargs)
            except Exception as exc:
                first_error = first_error or exc
            finally:
                self.busy_s += time.perf_counter() - began
        return first_error

    def _cancel(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)


class _DeferredLog:
    """``context.log`` whose calls are made by the step's thread."""

    def __init__(self, bridge: StepBridge, log: Any):
        self._bridge, self._log = bridge, log

    def __getattr__(self, level: str) -> Callable[..., None]:
        method = getattr(self._log, level)
        return lambda *args, **kwargs: self._bridge.defer(method, *args, **kwargs)


class DeferredContext:
    """What the pipeline thread sees of the step's context: writes are deferred, the rest read through.

    ``log_event`` and ``log.*`` go to the step's thread; ``run_id``, ``run`` and the other
    read-only attributes are the real context's.
    """

    def __init__(self, context: Any, bridge: StepBridge):
        self._context = context
        self.bridge = bridge
        self.log = _DeferredLog(bridge, context.log)
        self.run_id = context.run_id

    def log_event(self, event: Any) -> None:
        """Written by the step's thread, retried through an instance-database outage (``bookkeeping.py``)."""
        self.bridge.defer(log_event_patiently, self._context, event)

    def defer(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(real_context, *args)`` on the step's thread (run tags and other instance writes)."""
        self.bridge.defer(fn, self._context, *args)

    async def caught_up(self) -> None:
        await self.bridge.caught_up()

    async def logged(self, event: Any) -> None:
        """``log_event``, returning once the event is in the event log (the caller's document waits, not
        the loop)."""
        await self.bridge.call(log_event_patiently, self._context, event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
