"""The step bridge: the batch's event loop never waits for Dagster's bookkeeping, which the step's
own thread carries out in order; errors and interrupts still reach the step."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from dagster import AssetMaterialization

from upstage_assets.defs.pipeline.step_bridge import DeferredContext, StepBridge


def m(partition: str, asset: str = "parsed_layouts") -> AssetMaterialization:
    return AssetMaterialization(asset, partition=partition)


class SlowContext:
    """Stands in for Dagster's step context (its event log is the point; a real one is used by the
    pipeline tests): every write blocks until ``release`` is set, and says which thread made it."""

    run_id = "run-1"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.writing = threading.Event()  # a write has begun
        self.events: list[tuple[str, int]] = []
        self.batches: list[list[str]] = []  # what each batch write held
        self.log = self

    def log_event(self, event: AssetMaterialization) -> None:
        self.writing.set()
        self.release.wait(timeout=30)
        self.events.append((str(event.partition), threading.get_ident()))

    def info(self, message: str) -> None:
        self.events.append((f"info:{message}", threading.get_ident()))


def one_by_one(context: SlowContext, events: list[AssetMaterialization]) -> None:
    """The stand-in's batch write: each event in turn, recording the batch."""
    context.batches.append([str(e.partition) for e in events])
    for event in events:
        context.log_event(event)


def test_the_loop_finishes_its_work_while_the_first_write_is_still_blocked():
    context = SlowContext()
    bridge = StepBridge(max_backlog=1000)
    deferred = DeferredContext(context, bridge, write_batch=one_by_one)
    loop_threads: list[int] = []

    async def batch() -> int:
        loop_threads.append(threading.get_ident())
        for i in range(50):
            deferred.log_event(m(f"m{i}"))
            await asyncio.sleep(0)
        deferred.log.info("done")
        context.release.set()  # only now may the first write finish: the loop never waited for it
        return 50

    assert bridge.run(batch) == 50
    step_thread = threading.get_ident()
    assert loop_threads and loop_threads[0] != step_thread
    assert [e for e, _ in context.events] == [f"m{i}" for i in range(50)] + ["info:done"]  # in order
    assert {thread for _, thread in context.events} == {step_thread}  # the context used from one thread


def test_the_loop_waits_when_the_log_falls_too_far_behind():
    context = SlowContext()
    bridge = StepBridge(max_backlog=3)
    deferred = DeferredContext(context, bridge, write_batch=one_by_one)
    backlogs: list[int] = []

    async def batch() -> None:
        for i in range(10):
            await deferred.caught_up()
            backlogs.append(bridge.backlog)
            deferred.log_event(m(f"m{i}"))
            if i == 5:
                context.release.set()

    context.release.set()
    bridge.run(batch)
    assert max(backlogs) <= 3 and len(context.events) == 10


def test_a_failed_write_is_raised_after_the_batch_and_the_batch_still_finishes():
    finished = []

    def broken(_: str) -> None:
        raise RuntimeError("event log unavailable")

    async def batch() -> None:
        bridge.defer(broken, "x")
        await asyncio.sleep(0.01)
        finished.append(True)

    bridge = StepBridge()
    with pytest.raises(RuntimeError, match="event log unavailable"):
        bridge.run(batch)
    assert finished == [True]


def test_an_interrupt_on_the_step_thread_cancels_the_batch():
    cancelled = threading.Event()
    started = threading.Event()

    def interrupt() -> None:
        raise KeyboardInterrupt  # what Dagster raises on the step's thread for SIGINT/SIGTERM

    async def batch() -> None:
        started.set()
        bridge.defer(interrupt)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    bridge = StepBridge()
    begun = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        bridge.run(batch)
    assert started.is_set() and cancelled.wait(timeout=10)
    assert time.monotonic() - begun < 30  # it did not sleep the batch out


def test_what_the_batch_hands_over_while_it_unwinds_from_an_interrupt_is_still_logged():
    """The batch's last table commit runs in its ``finally`` (``table_commits.py``): its rows are in
    the table, so their materializations must reach the event log before the interrupt propagates."""
    context = SlowContext()
    context.release.set()
    bridge = StepBridge()
    deferred = DeferredContext(context, bridge, write_batch=one_by_one)

    def interrupt() -> None:
        raise KeyboardInterrupt

    async def batch() -> None:
        try:
            bridge.defer(interrupt)
            await asyncio.sleep(30)
        finally:
            await asyncio.to_thread(time.sleep, 0.2)  # the commit (I/O, off the loop)
            for i in range(3):
                deferred.log_event(m(f"committed{i}"))  # logged after it, in order

    with pytest.raises(KeyboardInterrupt):
        bridge.run(batch)
    assert [e for e, _ in context.events] == ["committed0", "committed1", "committed2"]
    assert {thread for _, thread in context.events} == {threading.get_ident()}


def test_a_document_waits_for_its_own_materialization_while_the_others_go_on():
    """A resumed run skips only the stages the event log has: a document whose finished stage were not yet
    logged at a SIGKILL would be paid for again. So each document waits for its own materialization before
    its next stage (and before it frees its slot), while the loop keeps serving the other documents."""
    context = SlowContext()
    bridge = StepBridge(max_backlog=1000)
    deferred = DeferredContext(context, bridge, write_batch=one_by_one)
    order: list[str] = []

    async def document() -> None:
        await deferred.logged(m("parsed_layouts"))
        order.append(f"next stage, log has {[e for e, _ in context.events]}")

    async def other_document() -> None:
        for i in range(3):
            await asyncio.sleep(0.01)
            order.append(f"other {i}")
        context.release.set()  # only now may the first write finish

    async def batch() -> None:
        await asyncio.gather(document(), other_document())

    bridge.run(batch)
    assert order == ["other 0", "other 1", "other 2", "next stage, log has ['parsed_layouts']"]


def test_a_failed_awaited_write_still_wakes_its_document_and_is_raised_after_the_batch():
    woke = []

    def broken(_: object, event: str) -> None:
        raise RuntimeError(f"event log unavailable for {event}")

    async def batch() -> None:
        await bridge.call(broken, None, "m0")
        woke.append(True)

    bridge = StepBridge()
    with pytest.raises(RuntimeError, match="event log unavailable for m0"):
        bridge.run(batch)
    assert woke == [True]


def test_materializations_ready_together_are_written_as_one_batch_per_asset_in_order():
    """While one write is in flight the next ones gather: the step's thread then writes one batch per
    asset (assets in the order they first came), and a log line between them keeps its place."""
    context = SlowContext()
    bridge = StepBridge(max_backlog=1000)
    deferred = DeferredContext(context, bridge, write_batch=one_by_one)

    async def batch() -> None:
        deferred.log_event(m("p0"))
        await asyncio.to_thread(context.writing.wait, 30)  # the step's thread is inside the first write
        for i in range(1, 4):
            deferred.log_event(m(f"p{i}"))
            deferred.log_event(m(f"k{i}", asset="kie_fields"))
        deferred.log.info("between")
        deferred.log_event(m("p4"))
        context.release.set()

    bridge.run(batch)
    assert context.batches == [["p0"], ["p1", "p2", "p3"], ["k1", "k2", "k3"], ["p4"]]
    assert [e for e, _ in context.events] == ["p0", "p1", "p2", "p3", "k1", "k2", "k3", "info:between", "p4"]


def test_a_failed_batch_wakes_every_document_waiting_for_it_and_is_raised_after_the_batch():
    woke: list[str] = []
    gate = threading.Event()

    def broken(_: object, events: list[AssetMaterialization]) -> None:
        gate.wait(timeout=30)
        raise RuntimeError(f"event log unavailable for {[str(e.partition) for e in events]}")

    bridge = StepBridge()
    deferred = DeferredContext(SlowContext(), bridge, write_batch=broken)

    async def document(name: str) -> None:
        await deferred.logged(m(name))
        woke.append(name)

    async def batch() -> None:
        first = asyncio.ensure_future(document("d0"))
        await asyncio.sleep(0.05)  # d0's write is in flight; d1 and d2 gather behind it
        rest = [asyncio.ensure_future(document(n)) for n in ("d1", "d2")]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, *rest)

    with pytest.raises(RuntimeError, match=r"event log unavailable for \['d0'\]"):
        bridge.run(batch)
    assert sorted(woke) == ["d0", "d1", "d2"]


def test_calls_taken_together_with_an_interrupt_are_still_made_while_the_batch_unwinds():
    """The step's thread takes everything queued at once: an interrupt among them must not drop the
    materializations behind it (their documents would be paid for again by the resumed run)."""
    context = SlowContext()
    bridge = StepBridge()
    deferred = DeferredContext(context, bridge, write_batch=one_by_one)

    def interrupt() -> None:
        raise KeyboardInterrupt

    async def batch() -> None:
        deferred.log_event(m("first"))
        await asyncio.to_thread(context.writing.wait, 30)  # the next calls queue up behind this write
        bridge.defer(interrupt)
        deferred.log_event(m("after0"))
        deferred.log_event(m("after1"))
        context.release.set()
        await asyncio.sleep(30)

    with pytest.raises(KeyboardInterrupt):
        bridge.run(batch)
    assert [e for e, _ in context.events] == ["first", "after0", "after1"]


def test_a_batch_write_cut_by_an_interrupt_is_made_again_while_the_batch_unwinds():
    context = SlowContext()
    context.release.set()
    cut: list[list[str]] = []

    def interrupted_once(ctx: SlowContext, events: list[AssetMaterialization]) -> None:
        if not cut:
            cut.append([str(e.partition) for e in events])
            raise KeyboardInterrupt  # as Dagster raises SIGINT/SIGTERM on the step's thread, mid-write
        one_by_one(ctx, events)

    bridge = StepBridge()
    deferred = DeferredContext(context, bridge, write_batch=interrupted_once)

    async def batch() -> None:
        deferred.log_event(m("a"))
        deferred.log_event(m("b"))
        await asyncio.sleep(30)

    with pytest.raises(KeyboardInterrupt):
        bridge.run(batch)
    assert cut and [e for e, _ in context.events] == ["a", "b"]
