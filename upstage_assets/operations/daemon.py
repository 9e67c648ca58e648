"""The Dagster daemon, with a backfill daemon that starts a new backfill within a second.

Dagster's backfill daemon looks for work every 30 s (``DEFAULT_DAEMON_INTERVAL_SECONDS``, not
configurable): a backfill submitted by ``upstage-assets ingest``, ``retry-failed`` or the UI's Materialize
button waits up to 30 s before its first run exists. At 1,000 documents and 40 requests/s that wait was
45% of the job's wall time (``bench/results/throughput.md``, stop 39). This daemon is Dagster's own
(``dagster-daemon``, same commands and options) with one change: between its 30 s iterations the backfill
loop asks the run storage, once a second, whether a backfill was added or a cancel requested, and if so
iterates at once. Each question is a ``COUNT`` over the backfills table; everything a backfill then does
(its runs, its status, its cancellation) is Dagster's iteration, unchanged.

Run it as ``python -m upstage_assets.operations.daemon run -w workspace.yaml``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from upstage_assets.dagster_compat import (
    BulkActionsFilter,
    BulkActionStatus,
    backfill_loop_parts,
    daemon_command,
)

WAKE_POLL_S = 1.0  # how often the loop asks whether new backfill work arrived between iterations
_PATCHED = "_upstage_wakes_on_new_backfills"


def backfill_signal(instance: Any) -> tuple[int, int]:
    """What says new work arrived: the number of backfills ever added, and of those being canceled.

    Counts, not timestamps: a backfill's creation time is its submitter's clock, which need not be ours."""
    return (instance.get_backfills_count(),
            instance.get_backfills_count(BulkActionsFilter(statuses=[BulkActionStatus.CANCELING])))


def new_work(before: tuple[int, int], now: tuple[int, int]) -> bool:
    """A backfill was added, or one more is being canceled."""
    return now[0] != before[0] or now[1] > before[1]


def wait_for_work(instance: Any, seen: tuple[int, int], seconds: float, shutdown_event: threading.Event,
                  poll_s: float = WAKE_POLL_S, logger: logging.Logger | None = None) -> bool:
    """Wait up to ``seconds`` (the stock interval's rest); True as soon as ``backfill_signal`` differs from
    ``seen``. A failed question is logged and waited out, as the stock loop would have slept anyway."""
    deadline = time.monotonic() + seconds
    while not shutdown_event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if shutdown_event.wait(min(poll_s, left)):
            return False
        try:
            if new_work(seen, backfill_signal(instance)):
                return True
        except Exception as exc:  # noqa: BLE001 - the next iteration still comes at the stock interval
            if logger is not None:
                logger.warning(f"could not look for new backfills ({type(exc).__name__}); next look at the interval")
            shutdown_event.wait(max(0.0, deadline - time.monotonic()))
            return False
    return False


def prompt_backfill_iteration_loop(workspace_process_context: Any, logger: logging.Logger,
                                   shutdown_event: threading.Event, until: float | None = None,
                                   threadpool_executor: Any = None, submit_threadpool_executor: Any = None,
                                   *, poll_s: float = WAKE_POLL_S) -> Iterator[Any]:
    """Dagster's backfill loop (same iteration, same spans, same interval), woken early by new work."""
    _, execute_backfill_iteration, span_marker, error_capture, interval_s = backfill_loop_parts()
    instance = workspace_process_context.instance
    backfill_futures: dict[str, Any] = {}
    while True:
        started = time.time()
        if until and started >= until:
            break
        try:
            seen = backfill_signal(instance)
        except Exception:  # noqa: BLE001 - the iteration below reports the storage's trouble
            seen = (-1, -1)
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
        if wait_for_work(instance, seen, rest, shutdown_event, poll_s, logger):
            logger.debug("new backfill work: iterating now, not at the interval")
        yield None


def wake_backfills_on_new_work(loop: Callable[..., Iterator[Any]] = prompt_backfill_iteration_loop) -> None:
    """Make ``BackfillDaemon`` run ``loop`` instead of Dagster's backfill loop (the name its
    ``core_loop`` calls, in ``dagster._daemon.daemon``)."""
    daemon_module = backfill_loop_parts()[0]
    current = getattr(daemon_module, "execute_backfill_iteration_loop", None)
    if current is None:  # Dagster renamed it: fail loudly rather than run with the 30 s wait unnoticed
        raise RuntimeError("this Dagster's daemon has no execute_backfill_iteration_loop: the project's daemon "
                           "needs the Dagster version pinned in pyproject.toml")
    if getattr(current, _PATCHED, False):
        return

    def patched(*args: Any, **kwargs: Any) -> Iterator[Any]:
        return loop(*args, **kwargs)

    setattr(patched, _PATCHED, True)
    daemon_module.execute_backfill_iteration_loop = patched


def main(argv: Sequence[str] | None = None) -> None:
    """``dagster-daemon`` with a backfill daemon woken by new backfills; the same commands and options."""
    wake_backfills_on_new_work()
    daemon_command().main(args=list(sys.argv[1:] if argv is None else argv),
                          prog_name="python -m upstage_assets.operations.daemon", obj={})


if __name__ == "__main__":
    main()
