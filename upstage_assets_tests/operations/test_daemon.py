"""The project's daemon: its backfill loop iterates as soon as a backfill is added or canceled.

Real storage throughout (SQLite instances in a temporary DAGSTER_HOME). The end-to-end test runs the
daemon as deployments do (``python -m upstage_assets.operations.daemon run``), submits an asset backfill
after the loop's first idle iteration, and checks from the daemon's own debug log that the backfill's
runs came from a woken iteration, not from the next 30 s one. Dagster's stock loop never logs the wake.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunsFilter

from upstage_assets.dagster_compat import (
    BulkActionStatus,
    PartitionBackfill,
    backfill_loop_parts,
    make_new_backfill_id,
)
from upstage_assets.operations.daemon import (
    backfill_signal,
    prompt_backfill_iteration_loop,
    wait_for_work,
    wake_backfills_on_new_work,
)
from upstage_assets_tests.operations.backfill_daemon_defs import defs

ROOT = Path(__file__).resolve().parents[2]
DEFS_MODULE = "upstage_assets_tests.operations.backfill_daemon_defs"
IDLE = "No backfill jobs in progress"  # Dagster's iteration, at debug level, when it finds no backfill
WOKEN = "new backfill work: iterating now"  # the project's loop, when new work cut its wait short
INSTANCE_YAML = "telemetry:\n  enabled: false\n"


def add_backfill(instance: DagsterInstance, partitions: list[str]) -> PartitionBackfill:
    """An asset backfill as the UI's Materialize button (and ``upstage-assets ingest``) adds it."""
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(), asset_graph=defs.resolve_asset_graph(), partition_names=partitions,
        asset_selection=[key for key in defs.resolve_asset_graph().get_all_asset_keys()],
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
        assert wait_for_work(instance, seen, seconds=120, shutdown_event=threading.Event(), poll_s=0.05)
    finally:
        adder.cancel()
    assert backfill_signal(instance)[0] == seen[0] + 1


def test_the_wait_ends_when_a_cancel_is_requested(instance: DagsterInstance) -> None:
    backfill = add_backfill(instance, ["a", "b"])
    seen = backfill_signal(instance)
    canceler = threading.Timer(0.3, lambda: instance.update_backfill(backfill.with_status(BulkActionStatus.CANCELING)))
    canceler.start()
    try:
        assert wait_for_work(instance, seen, seconds=120, shutdown_event=threading.Event(), poll_s=0.05)
    finally:
        canceler.cancel()


def test_without_new_work_the_wait_lasts_its_interval_and_a_shutdown_ends_it(instance: DagsterInstance) -> None:
    add_backfill(instance, ["a"])  # work that the last iteration already saw wakes nothing
    seen = backfill_signal(instance)
    assert not wait_for_work(instance, seen, seconds=0.3, shutdown_event=threading.Event(), poll_s=0.05)
    stop = threading.Event()
    stop.set()
    assert not wait_for_work(instance, seen, seconds=120, shutdown_event=stop, poll_s=0.05)


def test_the_daemon_module_runs_the_project_loop() -> None:
    daemon_module = backfill_loop_parts()[0]
    stock = daemon_module.execute_backfill_iteration_loop
    try:
        wake_backfills_on_new_work(prompt_backfill_iteration_loop)
        patched = daemon_module.execute_backfill_iteration_loop
        assert patched is not stock
        wake_backfills_on_new_work(prompt_backfill_iteration_loop)  # a second call changes nothing
        assert daemon_module.execute_backfill_iteration_loop is patched
    finally:
        daemon_module.execute_backfill_iteration_loop = stock


def _wait_for(predicate, timeout_s: float, what: str, log: Path):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout_s:.0f} s; daemon log:\n{log.read_text()[-4000:]}")


@pytest.mark.slow
def test_a_backfill_added_between_iterations_gets_its_runs_from_a_woken_iteration(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")},
           "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "upstage_assets.operations.daemon", "run", "-m", DEFS_MODULE,
                                   "--log-level", "debug"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            _wait_for(lambda: IDLE in log.read_text(), 180, "the backfill loop's first iteration", log)
            backfill = add_backfill(instance, ["a", "b"])
            _wait_for(lambda: instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill.backfill_id})),
                      180, "a run of the backfill", log)
        text = log.read_text()
        assert WOKEN in text, text[-4000:]
        # The run came from the woken iteration: no stock (30 s) iteration ran between the first one and the wake.
        assert text[:text.index(WOKEN)].count(IDLE) == 1, text[-4000:]
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
