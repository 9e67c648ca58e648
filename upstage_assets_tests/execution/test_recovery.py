"""Recovery: a SIGKILLed run, then "process missing"; scattered failures, then "reprocess failed".

Real runs on a persistent SQLite instance with the local engine over generated invoices; the
killed run is a separate process killed with SIGKILL while it is materializing.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest
from dagster import AssetKey, DagsterRunStatus

from upstage_assets.definitions import build_definitions
from upstage_assets.defs.pipeline.document_pipeline import GPU_POOL
from upstage_assets.defs.pipeline.keys import (
    DOCUMENT_ASSET_KEYS,
    PARSED_LAYOUTS,
    RAW_DOCUMENTS,
    VALIDATED_DOCUMENTS,
)
from upstage_assets.defs.pipeline.partitions import documents_partitions
from upstage_assets.operations.backlog import failed_documents, missing_documents
from upstage_assets.operations.launch import mark_dead_runs_failed
from upstage_assets.operations.local_instance import ensure_pool_limits
from upstage_assets.operations.recovery import plan_batches
from upstage_assets.settings import Settings
from upstage_assets_tests.execution.documents import (
    materialization_counts,
    parquet_rows_by_document,
    persistent_instance,
    register_documents,
    write_invoices,
)
from upstage_assets_tests.launching import launch_batched_runs


def _status(instance, asset_key: AssetKey):
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    value = get_and_update_asset_status_cache_value(instance, asset_key, documents_partitions)
    assert value is not None
    return value.deserialize_in_progress_partition_subsets(documents_partitions), \
        value.deserialize_failed_partition_subsets(documents_partitions)


def _wait_for_validated(instance, at_least: int, process: subprocess.Popen, timeout: float = 300.0) -> int:
    """Documents validated so far, once there are ``at_least``; the timeout only guards against a hang
    (a loaded machine starts the run worker slowly: 120 s was not always enough here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = len(instance.get_materialized_partitions(VALIDATED_DOCUMENTS))
        if done >= at_least:
            return done
        assert process.poll() is None, "the run worker exited before it could be killed"
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} documents validated after {timeout}s")


@pytest.mark.serial  # kills the run worker after its fifth document: other tests' load slows it
@pytest.mark.slow
def test_a_killed_run_leaves_its_finished_documents_and_process_missing_does_only_the_rest(
        tmp_path, data_root, monkeypatch):
    write_invoices(data_root / "inbox", 24)
    home = tmp_path / "dagster_home"
    instance = persistent_instance(home)
    keys = register_documents(data_root / "inbox", data_root / "outputs", instance)
    ensure_pool_limits(instance, {GPU_POOL: 1})  # one slot: a dead run holding it would block the rest
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    worker = subprocess.Popen([sys.executable, "-m", "upstage_assets_tests.execution.crash_worker"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_validated(instance, 5, worker)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    killed_run = instance.get_runs()[0]
    assert killed_run.status == DagsterRunStatus.STARTED, "a SIGKILLed worker cannot record its own end"
    assert instance.event_log_storage.get_concurrency_info(GPU_POOL).active_run_ids == {killed_run.run_id}

    assert mark_dead_runs_failed(instance) == [killed_run.run_id]
    assert instance.event_log_storage.get_concurrency_info(GPU_POOL).active_slot_count == 0, "slot freed"
    assert instance.get_run_by_id(killed_run.run_id).status == DagsterRunStatus.FAILURE
    in_progress, _ = _status(instance, VALIDATED_DOCUMENTS)
    assert not list(in_progress.get_partition_keys()), "no partition is left in progress"

    finished = instance.get_materialized_partitions(VALIDATED_DOCUMENTS)
    missing = missing_documents(instance)
    assert 0 < len(missing) < len(keys) and set(missing) == set(keys) - finished
    parsed_before = materialization_counts(instance, PARSED_LAYOUTS, keys)

    batch_size = 8
    started = time.perf_counter()
    run_ids = launch_batched_runs(instance, missing, batch_size, defs=build_definitions(Settings.from_env(backend="local")))
    print(f"\n[crash] killed after {len(finished)}/{len(keys)} validated; process missing: {len(missing)} "
          f"documents in {len(run_ids)} runs, {time.perf_counter() - started:.1f} s")
    assert len(run_ids) == math.ceil(len(missing) / batch_size)
    assert all(instance.get_run_by_id(r).status == DagsterRunStatus.SUCCESS for r in run_ids)

    assert missing_documents(instance) == []
    validated = materialization_counts(instance, VALIDATED_DOCUMENTS, keys)
    assert set(validated.values()) == {1}, "every document validated exactly once, none twice"
    parsed = materialization_counts(instance, PARSED_LAYOUTS, keys)
    assert all(parsed[k] == 1 for k in keys), "no document parsed (paid for) twice, " \
        f"the one in flight resumed after its parse: {parsed_before} -> {parsed}"
    assert parquet_rows_by_document(data_root / "outputs") == dict.fromkeys(keys, 1)
    in_progress, failed = _status(instance, VALIDATED_DOCUMENTS)
    assert not list(in_progress.get_partition_keys()) and not list(failed.get_partition_keys())


@pytest.mark.slow
def test_scattered_failures_are_reprocessed_in_one_run_without_touching_the_others(
        tmp_path, data_root, dagster_instance):
    paths = write_invoices(data_root / "inbox", 12)
    keys = register_documents(data_root / "inbox", data_root / "outputs", dagster_instance)
    defs = build_definitions(Settings.from_env(backend="local"))
    broken = [paths[i] for i in (1, 5, 6, 10)]
    saved = {p: p.read_bytes() for p in broken}
    for path in broken:
        path.unlink()  # the source vanished: these documents fail at raw_documents

    first = launch_batched_runs(dagster_instance, keys, 50, defs=defs)
    assert len(first) == 1 and dagster_instance.get_run_by_id(first[0]).status == DagsterRunStatus.FAILURE
    storage = defs.resources["storage"]
    failed = failed_documents(storage)
    assert len(failed) == 4 and set(failed) == set(missing_documents(dagster_instance))
    assert len(plan_batches(keys, failed, 50)) == 1, "scattered keys, still one run"

    # Three sources come back; the fourth is still gone. The range has gaps, so its run does not
    # fail the step (that would mark the skipped finished documents failed in the UI); the
    # document that still fails is recorded in the failures table for the next retry.
    for path in broken[:3]:
        path.write_bytes(saved[path])
    second = launch_batched_runs(dagster_instance, failed, 50, defs=defs, reason="reprocess failed")
    assert len(second) == 1 and dagster_instance.get_run_by_id(second[0]).status == DagsterRunStatus.SUCCESS
    still_failing = failed_documents(storage)
    assert len(still_failing) == 1 and still_failing == missing_documents(dagster_instance)
    _, failed_in_ui = _status(dagster_instance, VALIDATED_DOCUMENTS)
    assert not set(failed_in_ui.get_partition_keys()) & dagster_instance.get_materialized_partitions(
        VALIDATED_DOCUMENTS), "no finished document shows as failed"

    broken[3].write_bytes(saved[broken[3]])
    third = launch_batched_runs(dagster_instance, still_failing, 50, defs=defs, reason="reprocess failed")
    assert [dagster_instance.get_run_by_id(r).status for r in third] == [DagsterRunStatus.SUCCESS]

    assert failed_documents(storage) == [] and missing_documents(dagster_instance) == []
    for asset_key in DOCUMENT_ASSET_KEYS:
        assert set(materialization_counts(dagster_instance, asset_key, keys).values()) == {1}, asset_key
    assert materialization_counts(dagster_instance, RAW_DOCUMENTS, keys) == dict.fromkeys(keys, 1)
    assert parquet_rows_by_document(data_root / "outputs") == dict.fromkeys(keys, 1)
    in_progress, failed_now = _status(dagster_instance, VALIDATED_DOCUMENTS)
    assert not list(in_progress.get_partition_keys()) and not list(failed_now.get_partition_keys())


@pytest.mark.slow
def test_process_missing_resumes_each_document_after_its_last_finished_stage(data_root, dagster_instance):
    write_invoices(data_root / "inbox", 4, seed=5)
    keys = register_documents(data_root / "inbox", data_root / "outputs", dagster_instance)
    defs = build_definitions(Settings.from_env(backend="local"))
    # As if a run had died right after parsing: raw and parsed exist, extraction never ran.
    launch_batched_runs(dagster_instance, keys, 50, defs=defs, asset_selection=[RAW_DOCUMENTS, PARSED_LAYOUTS])
    assert missing_documents(dagster_instance) == keys

    run_ids = launch_batched_runs(dagster_instance, keys, 50, defs=defs)
    assert [dagster_instance.get_run_by_id(r).status for r in run_ids] == [DagsterRunStatus.SUCCESS]
    for asset_key in DOCUMENT_ASSET_KEYS:
        assert materialization_counts(dagster_instance, asset_key, keys) == dict.fromkeys(keys, 1), asset_key
    assert parquet_rows_by_document(data_root / "outputs") == dict.fromkeys(keys, 1)
