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

Writes that can share one event-log write are handed over as batchable (``defer_batched``): the
step's thread takes everything queued at once, and each run of consecutive batchable calls is
written one batch per key (per asset, for materializations), in the order the keys first came.
While one write is in flight the next batch gathers, so the number of writes per document falls
as the rate rises, and a quiet batch still writes each materialization at once.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from upstage_assets.dagster_compat import log_materialization_batch
from upstage_assets.defs.pipeline.bookkeeping import log_events_patiently

T = TypeVar("T")
_DONE = object()
POLL_S = 0.2  # the step thread wakes this often, so Dagster's interrupts (SIGTERM/SIGINT) are seen
UNWIND_S = 30.0  # after an interrupt: how long the step's thread keeps logging what the unwinding batch hands over
MAX_TAKEN = 512  # calls the step's thread takes from the queue at once (the most one batch can hold)


@dataclass
class _Batchable:
    """One item of a batch write: ``write([item, ...])`` for every item of the same ``key``."""

    write: Callable[[list[Any]], None]
    key: Hashable
    item: Any
    done: Callable[[], None] | None = None  # wakes the document that waits for the write


class StepBridge:
    """Runs a coroutine on a worker thread while the calling thread carries out its deferred calls."""

    def __init__(self, max_backlog: int = 64):
        self.max_backlog = max_backlog
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._left: list[Any] = []  # taken from the queue but not made when an interrupt came
        self.deferred = 0  # calls handed over (for the step's summary and tests)
        self.busy_s = 0.0  # time the step's thread spent in them: Dagster's bookkeeping, off the loop

    def defer(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Have the step's thread call ``fn(*args, **kwargs)``, in order, without waiting for it."""
        self.deferred += 1
        self._queue.put((fn, args, kwargs))

    def defer_batched(self, write: Callable[[list[Any]], None], key: Hashable, item: Any) -> None:
        """Have the step's thread make ``write([... item ...])`` with the other items of ``key`` ready
        then; one key always has one ``write``."""
        self.deferred += 1
        self._queue.put(_Batchable(write, key, item))

    async def written(self, write: Callable[[list[Any]], None], key: Hashable, item: Any) -> None:
        """``defer_batched``, returning once the batch holding ``item`` is written (or has failed)."""
        loop = asyncio.get_running_loop()
        made = loop.create_future()
        self.deferred += 1
        self._queue.put(_Batchable(write, key, item, done=_waker(loop, made)))
        await made

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
        wake = _waker(loop, made)

        def call_then_wake() -> None:
            try:
                fn(*args)
            finally:
                wake()

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
        """Make the deferred calls in order until the batch is over (or ``deadline``); the first error.

        An interrupt raised during a call leaves what was taken after it, and an interrupted batch write
        itself, to the calls made while the batch unwinds (an interrupted plain call is not made again).
        """
        first_error: BaseException | None = None
        while deadline is None or time.monotonic() < deadline:
            runs = _runs_of_batchables(self._take())
            began = time.perf_counter()
            try:
                for i, calls in enumerate(runs):
                    if calls[0] is _DONE:
                        return first_error  # nothing is queued after it: the batch is over
                    batch = isinstance(calls[0], _Batchable)
                    try:
                        error = self._write_batches(calls) if batch else self._call(calls[0])
                    except BaseException:
                        self._left = [call for later in runs[i if batch else i + 1:] for call in later]
                        raise
                    first_error = first_error or error
            finally:
                self.busy_s += time.perf_counter() - began
        return first_error

    def _take(self) -> list[Any]:
        """What an interrupt left, else the next call (waiting up to ``POLL_S``), then all that is queued."""
        taken, self._left = self._left, []
        if not taken:
            try:
                taken = [self._queue.get(timeout=POLL_S)]
            except queue.Empty:
                return []
        while len(taken) < MAX_TAKEN:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return taken

    @staticmethod
    def _call(call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]) -> Exception | None:
        fn, args, kwargs = call
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            return exc
        return None

    @staticmethod
    def _write_batches(calls: list[_Batchable]) -> Exception | None:
        """One ``write`` per key, keys in the order they first came; every waiting document is woken."""
        by_key: dict[Hashable, list[_Batchable]] = {}
        for call in calls:
            by_key.setdefault(call.key, []).append(call)
        first_error: Exception | None = None
        for batch in by_key.values():
            try:
                batch[0].write([call.item for call in batch])
            except Exception as exc:
                first_error = first_error or exc
            finally:
                for call in batch:
                    if call.done is not None:
                        call.done()
        return first_error

    def _cancel(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)


def _runs_of_batchables(taken: list[Any]) -> list[list[Any]]:
    """Consecutive batchable calls together, every other call alone, in the order taken."""
    runs: list[list[Any]] = []
    for call in taken:
        if isinstance(call, _Batchable) and runs and isinstance(runs[-1][0], _Batchable):
            runs[-1].append(call)
        else:
            runs.append([call])
    return runs


def _waker(loop: asyncio.AbstractEventLoop, made: asyncio.Future[None]) -> Callable[[], None]:
    """A callable for any thread that resolves ``made`` on its loop (nobody waits once the loop is closed)."""
    def wake() -> None:
        if not made.done():
            made.set_result(None)

    def wake_threadsafe() -> None:
        try:
            loop.call_soon_threadsafe(wake)
        except RuntimeError:  # the loop is closed (the batch was cancelled)
            pass

    return wake_threadsafe


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
    read-only attributes are the real context's. ``write_batch(context, materializations)`` stores
    one asset's materializations (Dagster's batch write; tests with a stand-in context pass their own).
    """

    def __init__(self, context: Any, bridge: StepBridge,
                 write_batch: Callable[[Any, list[Any]], None] = log_materialization_batch):
        self._context = context
        self.bridge = bridge
        self.log = _DeferredLog(bridge, context.log)
        self.run_id = context.run_id
        self._write_events = functools.partial(log_events_patiently, context, write=write_batch)

    def log_event(self, event: Any) -> None:
        """Written by the step's thread, with the other materializations of its asset ready then, retried
        through an instance-database outage (``bookkeeping.py``)."""
        self.bridge.defer_batched(self._write_events, event.asset_key, event)

    def defer(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(real_context, *args)`` on the step's thread (run tags and other instance writes)."""
        self.bridge.defer(fn, self._context, *args)

    async def caught_up(self) -> None:
        await self.bridge.caught_up()

    async def logged(self, event: Any) -> None:
        """``log_event``, returning once the event is in the event log (the caller's document waits, not
        the loop)."""
        await self.bridge.written(self._write_events, event.asset_key, event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
