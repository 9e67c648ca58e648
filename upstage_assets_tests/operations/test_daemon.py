"""The project's daemon: its backfill loop and run queue iterate as soon as new work arrives.

Real storage throughout (SQLite instances in a temporary DAGSTER_HOME). The end-to-end test runs the
daemon as deployments do (``python -m upstage_assets.operations.daemon run``) on an instance whose run
queue looks for work once an hour and takes one run at a time, submits an asset backfill of two runs
after the backfill loop's first idle iteration, and needs both runs to finish: only woken iterations can
create them (the backfill loop's next tick is 30 s away) and launch them (the queue's is an hour away).
Dagster's stock ``dagster-daemon`` fails it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunsFilter,
    job,
    op,
)
from dagster._core.storage.dagster_run import RunOpConcurrency
from dagster._core.utils import make_new_run_id

from upstage_assets.dagster_compat import (
    STARTED_RUN_POOL_ALLOTMENT_ENV,
    BulkActionStatus,
    PartitionBackfill,
    backfill_loop_parts,
    make_new_backfill_id,
    op_concurrency_counter,
    queued_run_daemon_class,
)
from upstage_assets.operations.daemon import (
    backfill_signal,
    count_started_runs_slots_once,
    new_backfill_work,
    new_queue_work,
    run_queue_signal,
    wait_for_work,
    wake_on_new_work,
)
from upstage_assets_tests.fixtures.waiting import wait_for
from upstage_assets_tests.operations.backfill_daemon_defs import defs

ROOT = Path(__file__).resolve().parents[2]
DEFS_MODULE = "upstage_assets_tests.operations.backfill_daemon_defs"
IDLE = "No backfill jobs in progress"  # Dagster's iteration, at debug level, when it finds no backfill
WOKEN = "new backfill work: iterating now"  # the project's loop, when new work cut its wait short
INSTANCE_YAML = "telemetry:\n  enabled: false\n"
# A run queue that looks for work once an hour and runs one run at a time: only a woken queue launches runs.
SLOW_QUEUE_YAML = INSTANCE_YAML + """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
    dequeue_interval_seconds: 3600
"""


@op
def nothing() -> None:
    pass


@job
def queued_job() -> None:
    nothing()


def add_backfill(instance: DagsterInstance, partitions: list[str]) -> PartitionBackfill:
    """An asset backfill as the UI's Materialize button (and ``upstage-assets ingest``) adds it."""
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(), asset_graph=defs.resolve_asset_graph(), partition_names=partitions,
        asset_selection=list(defs.resolve_asset_graph().get_all_asset_keys()),
        backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance, all_partitions=False,
        title=None, description=None, run_config=None)
    instance.add_backfill(backfill)
    return backfill


@pytest.fixture
def instance(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_the_wait_ends_when_a_backfill_is_added(instance: DagsterInstance) -> None:
    seen = backfill_signal(instance)
    adder = threading.Timer(0.3, add_backfill, args=(instance, ["a"]))
    adder.start()
    try:
        assert wait_for_work(lambda: backfill_signal(instance), new_backfill_work, seen, 120, threading.Event(), 0.05)
    finally:
        adder.cancel()
    assert backfill_signal(instance)[0] == seen[0] + 1


def test_the_wait_ends_when_a_cancel_is_requested(instance: DagsterInstance) -> None:
    backfill = add_backfill(instance, ["a", "b"])
    seen = backfill_signal(instance)
    canceler = threading.Timer(0.3, lambda: instance.update_backfill(backfill.with_status(BulkActionStatus.CANCELING)))
    canceler.start()
    try:
        assert wait_for_work(lambda: backfill_signal(instance), new_backfill_work, seen, 120, threading.Event(), 0.05)
    finally:
        canceler.cancel()


def test_the_queue_wakes_for_a_freed_slot_not_for_a_run_that_keeps_it(instance: DagsterInstance) -> None:
    """A queued run's wake is end to end below (a queued run needs a code location's origin)."""
    run = instance.create_run_for_job(queued_job, status=DagsterRunStatus.STARTED)
    seen = run_queue_signal(instance)
    assert not wait_for_work(lambda: run_queue_signal(instance), new_queue_work, seen, 0.3, threading.Event(), 0.05)
    end = threading.Timer(0.3, lambda: instance.report_run_failed(run))
    end.start()
    try:
        assert wait_for_work(lambda: run_queue_signal(instance), new_queue_work, seen, 120, threading.Event(), 0.05)
    finally:
        end.cancel()
    assert run_queue_signal(instance) == (seen[0], seen[1] - 1)
    assert new_queue_work((0, 1), (1, 1)) and not new_queue_work((1, 1), (0, 2))  # queued: news; launched: none


def test_without_new_work_the_wait_lasts_its_interval_and_a_shutdown_ends_it(instance: DagsterInstance) -> None:
    add_backfill(instance, ["a"])  # work that the last iteration already saw wakes nothing
    seen = backfill_signal(instance)
    assert not wait_for_work(lambda: backfill_signal(instance), new_backfill_work, seen, 0.3, threading.Event(), 0.05)
    stop = threading.Event()
    stop.set()
    assert not wait_for_work(lambda: backfill_signal(instance), new_backfill_work, seen, 120, stop, 0.05)


def _run_in_pool(status: DagsterRunStatus, pool: str) -> DagsterRun:
    """A run whose one root step is in ``pool``, as Dagster records a run of the document pipeline."""
    return DagsterRun(job_name="pooled", run_id=make_new_run_id(), status=status,
                      run_op_concurrency=RunOpConcurrency(all_pools={pool}, root_key_counts={pool: 1},
                                                          has_unconstrained_root_nodes=False))


@pytest.mark.parametrize(("allotment", "blocked"), [(None, False), ("5", True)],
                         ids=["the project's daemon", "Dagster's default (the control)"])
def test_a_started_run_whose_step_holds_its_slot_counts_once(instance: DagsterInstance, monkeypatch,
                                                             allotment: str | None, blocked: bool) -> None:
    """A pool of two slots, one run two seconds into its step (its slot claimed), one run queued: the
    second slot is free. Dagster's default (5 s) counts the started run twice and holds the queued one."""
    monkeypatch.delenv(STARTED_RUN_POOL_ALLOTMENT_ENV, raising=False)
    if allotment is not None:
        monkeypatch.setenv(STARTED_RUN_POOL_ALLOTMENT_ENV, allotment)
    count_started_runs_slots_once()  # keeps a value the deployment set
    assert os.environ[STARTED_RUN_POOL_ALLOTMENT_ENV] == (allotment or "1")
    instance.event_log_storage.set_concurrency_slots("api", 2)
    started = instance.add_run(_run_in_pool(DagsterRunStatus.STARTING, "api"))
    instance.run_storage.handle_run_event(  # started two seconds ago: past the project's 1 s, within Dagster's 5
        started.run_id, DagsterEvent(DagsterEventType.RUN_START.value, job_name="pooled"),
        update_timestamp=datetime.now(UTC) - timedelta(seconds=2))
    assert instance.event_log_storage.claim_concurrency_slot("api", started.run_id, "step").is_claimed
    # the run the queue asks about: the counter reads its pools only (a stored QUEUED run needs a code origin)
    queued = _run_in_pool(DagsterRunStatus.NOT_STARTED, "api")
    in_progress = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
    assert [r.dagster_run.run_id for r in in_progress] == [started.run_id]
    assert op_concurrency_counter(instance, [queued], in_progress).is_blocked(queued) is blocked


def test_the_daemon_runs_the_project_loops() -> None:
    daemon_module, queue_daemon = backfill_loop_parts()[0], queued_run_daemon_class()
    stock_backfill, stock_queue = daemon_module.execute_backfill_iteration_loop, queue_daemon.__dict__.get("core_loop")
    try:
        wake_on_new_work()
        patched = daemon_module.execute_backfill_iteration_loop
        assert patched is not stock_backfill and "core_loop" in queue_daemon.__dict__
        wake_on_new_work()  # a second call changes nothing
        assert daemon_module.execute_backfill_iteration_loop is patched
    finally:
        daemon_module.execute_backfill_iteration_loop = stock_backfill
        if stock_queue is None:
            del queue_daemon.core_loop
        else:
            queue_daemon.core_loop = stock_queue


@pytest.mark.slow
def test_a_backfill_gets_its_runs_created_and_launched_by_woken_iterations(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(SLOW_QUEUE_YAML)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")},
           "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    log = tmp_path / "daemon.log"

    def daemon_log() -> str:
        return "daemon log:\n" + log.read_text()[-4000:]

    with log.open("wb") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "upstage_assets.operations.daemon", "run", "-m", DEFS_MODULE,
                                   "--log-level", "debug"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            wait_for(lambda: IDLE in log.read_text(), 180, "the backfill loop's first iteration", daemon_log)
            backfill = add_backfill(instance, ["a", "b"])
            of_backfill = RunsFilter(tags={"dagster/backfill": backfill.backfill_id})

            def both_succeeded() -> bool:
                runs = instance.get_runs(of_backfill)
                assert not [r for r in runs if r.status == DagsterRunStatus.FAILURE], log.read_text()[-4000:]
                return len(runs) == 2 and all(r.status == DagsterRunStatus.SUCCESS for r in runs)

            # One at a time: the second run starts only when the queue wakes for the first one's freed slot.
            wait_for(both_succeeded, 300, "both runs of the backfill to succeed", daemon_log)
        text = log.read_text()
        assert WOKEN in text, text[-4000:]
        # The runs came from the woken iteration: no stock (30 s) iteration ran between the first one and the wake.
        assert text[:text.index(WOKEN)].count(IDLE) == 1, text[-4000:]
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
