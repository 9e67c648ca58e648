"""The Dagster daemon, with a backfill loop and a run queue that act on new work at once.

Two of Dagster's daemon loops look for work on a clock:

- the backfill loop every 30 s (``DEFAULT_DAEMON_INTERVAL_SECONDS``, not configurable): a backfill
  submitted by ``upstage-assets ingest``, ``retry-failed`` or the UI's Materialize button waits up to 30 s
  before its first run exists. At 1,000 documents and 40 requests/s that wait was 45% of the job's wall
  time (``bench/results/throughput.md``, stop 39);
- the run queue every ``dequeue_interval_seconds`` (1 s here, 5 s by default): a run that ends leaves
  its slot empty until then, at every change of runs.

This daemon is Dagster's own (``dagster-daemon``, same commands and options) with one change to both
loops: while they wait out their interval they ask the instance every ``WAKE_POLL_S`` whether new work
arrived (a backfill added or a cancel requested; a run queued or a run slot freed), and if so iterate at
once. Each question is a ``COUNT`` or two on the run storage; everything an iteration then does (which
runs it creates or launches, limits, cancellation) is Dagster's, unchanged.

It also counts a just-started run's pool slots once, not twice (``count_started_runs_slots_once``).

Run it as ``python -m upstage_assets.operations.daemon run -w workspace.yaml``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

from dagster import DagsterRunStatus, RunsFilter

from upstage_assets.dagster_compat import (
    ACTIVE_RUN_STATUSES,
    STARTED_RUN_POOL_ALLOTMENT_ENV,
    BulkActionsFilter,
    BulkActionStatus,
    backfill_loop_parts,
    daemon_command,
    error_info_from_exc_info,
    queued_run_daemon_class,
)

#: seconds a started run is assumed to hold its pool slots before its steps claim them (Dagster: 5)
STARTED_RUN_POOL_ALLOTMENT_S = 1
WAKE_POLL_S = 0.25  # how often a waiting loop asks whether new work arrived
BEAT_EVERY_S = 5.0  # a waiting loop yields at least this often, for the daemon's heartbeat
_PATCHED = "_upstage_wakes_on_new_work"

Signal = tuple[int, int]


def backfill_signal(instance: Any) -> Signal:
    """The number of backfills ever added, and of those being canceled.

    Counts, not timestamps: a backfill's creation time is its submitter's clock, which need not be ours."""
    return (instance.get_backfills_count(),
            instance.get_backfills_count(BulkActionsFilter(statuses=[BulkActionStatus.CANCELING])))


def new_backfill_work(before: Signal, now: Signal) -> bool:
    """A backfill was added, or one more is being canceled."""
    return now[0] != before[0] or now[1] > before[1]


def run_queue_signal(instance: Any) -> Signal:
    """The runs waiting in the queue, and the runs holding a slot (Dagster's own list, which its queue counts)."""
    return (instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED])),
            instance.get_runs_count(RunsFilter(statuses=ACTIVE_RUN_STATUSES)))


def new_queue_work(before: Signal, now: Signal) -> bool:
    """A run was queued, or a run gave its slot back."""
    return now[0] > before[0] or now[1] < before[1]


def wait_for_work(read: Callable[[], Signal], changed: Callable[[Signal, Signal], bool], seen: Signal,
                  seconds: float, shutdown_event: threading.Event, poll_s: float = WAKE_POLL_S,
                  logger: logging.Logger | None = None) -> bool:
    """Wait up to ``seconds`` (the stock interval's rest); True as soon as ``changed(seen, read())``. A
    failed question is logged and the rest waited out, as the stock loop would have slept anyway."""
    deadline = time.monotonic() + seconds
    while not shutdown_event.is_set():
        left = deadline - time.monotonic()
        if left <= 0 or shutdown_event.wait(min(poll_s, left)):
            return False
        try:
            if changed(seen, read()):
                return True
        except Exception as exc:  # noqa: BLE001 - the next iteration still comes at the stock interval
            if logger is not None:
                logger.warning(f"could not look for new work ({type(exc).__name__}); next look at the interval")
            shutdown_event.wait(max(0.0, deadline - time.monotonic()))
            return False
    return False


def _wait_beating(read: Callable[[], Signal], changed: Callable[[Signal, Signal], bool], seen: Signal,
                  seconds: float, shutdown_event: threading.Event, poll_s: float,
                  logger: logging.Logger) -> Generator[None, None, bool]:
    """``wait_for_work`` in slices of at most ``BEAT_EVERY_S``, yielding between them so the daemon's
    heartbeat goes on through a long interval (as Dagster's interval loop yields while it sleeps).
    Returns (``yield from``'s value) whether new work ended the wait."""
    deadline = time.monotonic() + seconds
    while not shutdown_event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if wait_for_work(read, changed, seen, min(left, BEAT_EVERY_S), shutdown_event, poll_s, logger):
            return True
        yield None
    return False


def _read_or_unknown(read: Callable[[], Signal]) -> Signal:
    try:
        return read()
    except Exception:  # noqa: BLE001 - the iteration reports the storage's trouble; any answer then differs
        return (-1, -1)


def prompt_backfill_iteration_loop(workspace_process_context: Any, logger: logging.Logger,
                                   shutdown_event: threading.Event, until: float | None = None,
                                   threadpool_executor: Any = None, submit_threadpool_executor: Any = None,
                                   *, poll_s: float = WAKE_POLL_S) -> Iterator[Any]:
    """Dagster's backfill loop (same iteration, spans and interval), woken early by new backfill work."""
    _, execute_backfill_iteration, span_marker, error_capture, interval_s = backfill_loop_parts()
    instance = workspace_process_context.instance
    backfill_futures: dict[str, Any] = {}
    while True:
        started = time.time()
        if until and started >= until:
            break
        seen = _read_or_unknown(lambda: backfill_signal(instance))  # before: work added meanwhile wakes the next
        yield span_marker.START_SPAN
        try:
            yield from execute_backfill_iteration(workspace_process_context, logger,
                                                  threadpool_executor=threadpool_executor,
                                                  backfill_futures=backfill_futures,
                                                  submit_threadpool_executor=submit_threadpool_executor)
        except Exception:  # noqa: BLE001 - as Dagster's loop: report, and iterate again later
            yield error_capture.process_exception(exc_info=sys.exc_info(), logger=logger,
                                                  log_message="BackfillDaemon caught an error")
        yield span_marker.END_SPAN
        rest = max(0.0, interval_s - (time.time() - started))
        if (yield from _wait_beating(lambda: backfill_signal(instance), new_backfill_work, seen, rest,
                                     shutdown_event, poll_s, logger)):
            logger.debug("new backfill work: iterating now, not at the interval")
        yield None


def prompt_queue_core_loop(daemon: Any, workspace_process_context: Any, shutdown_event: threading.Event,
                           *, poll_s: float = WAKE_POLL_S) -> Iterator[Any]:
    """Dagster's run-queue loop (an interval daemon's: same iteration, spans and interval), woken early
    when a run is queued or gives its slot back."""
    span_marker = backfill_loop_parts()[2]
    logger = getattr(daemon, "_logger", logging.getLogger("dagster.daemon"))
    instance = workspace_process_context.instance
    while True:
        started = time.time()
        yield span_marker.START_SPAN
        try:
            yield from daemon.run_iteration(workspace_process_context)
        except Exception:  # noqa: BLE001 - as Dagster's loop: report, and iterate again later
            error_info = error_info_from_exc_info(sys.exc_info())
            logger.error("Caught error:\n%s", error_info)
            yield error_info
        yield span_marker.END_SPAN
        seen = _read_or_unknown(lambda: run_queue_signal(instance))  # after: the runs it launched are no news
        rest = max(0.0, daemon.interval_seconds - (time.time() - started))
        if (yield from _wait_beating(lambda: run_queue_signal(instance), new_queue_work, seen, rest,
                                     shutdown_event, poll_s, logger)):
            logger.debug("new run queue work: iterating now, not at the interval")
        yield None


def wake_on_new_work() -> None:
    """Make the backfill daemon and the run-queue daemon run the loops above instead of Dagster's.

    ``BackfillDaemon.core_loop`` calls ``execute_backfill_iteration_loop`` by its name in
    ``dagster._daemon.daemon``; ``QueuedRunCoordinatorDaemon`` inherits ``core_loop`` from
    ``IntervalDaemon``. Either missing (a Dagster upgrade moved it) fails here, loudly."""
    daemon_module = backfill_loop_parts()[0]
    current = getattr(daemon_module, "execute_backfill_iteration_loop", None)
    queue_daemon = queued_run_daemon_class()
    if current is None or not hasattr(queue_daemon, "run_iteration"):
        raise RuntimeError("this Dagster's daemon loops have moved: the project's daemon needs the Dagster version "
                           "pinned in pyproject.toml")
    if getattr(current, _PATCHED, False):
        return

    def backfill_loop(*args: Any, **kwargs: Any) -> Iterator[Any]:
        return prompt_backfill_iteration_loop(*args, **kwargs)

    def queue_core_loop(self: Any, workspace_process_context: Any, shutdown_event: threading.Event) -> Iterator[Any]:
        return prompt_queue_core_loop(self, workspace_process_context, shutdown_event)

    setattr(backfill_loop, _PATCHED, True)
    daemon_module.execute_backfill_iteration_loop = backfill_loop
    queue_daemon.core_loop = queue_core_loop


def count_started_runs_slots_once() -> None:
    """Let the run queue count a started run's pool slots once its steps have claimed them.

    Dagster's queue counts a run that started less than 5 s ago as holding its root steps' pool slots,
    and also counts the slots those steps claimed: for 5 s after each start, one slot of the run's pool is
    held twice. With a backfill's runs at once equal to the ``upstage_api`` pool's slots (four each), a
    queued run waited for that phantom slot at every run change: a run slot stood empty 3.3 s on average
    after a run ended (``bench/results/throughput.md``, stop 41). A run's steps claim their slots 0.2-0.3
    s after it starts, so 1 s still covers that gap. A value set in the environment is kept."""
    os.environ.setdefault(STARTED_RUN_POOL_ALLOTMENT_ENV, str(STARTED_RUN_POOL_ALLOTMENT_S))


def main(argv: Sequence[str] | None = None) -> None:
    """``dagster-daemon`` whose backfill loop and run queue act on new work at once; the same options."""
    wake_on_new_work()
    count_started_runs_slots_once()
    daemon_command().main(args=list(sys.argv[1:] if argv is None else argv),
                          prog_name="python -m upstage_assets.operations.daemon", obj={})


if __name__ == "__main__":
    main()
