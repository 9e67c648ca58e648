"""The instance's pooled PostgreSQL event log (``operations.event_log_storage``) on a real server: a
run's "materialization planned" events go in one INSERT instead of one write (and two new
connections) each, and what Dagster derives from them still holds: a failed range run marks each of
its partitions failed, a finished one materialized, the asset's row names the last run."""

from __future__ import annotations

import os
import uuid

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    MaterializeResult,
    StaticPartitionsDefinition,
    materialize,
    multi_asset,
)
from sqlalchemy import event

from upstage_assets.dagster_compat import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    DATA_VERSION_TAG,
    get_and_update_asset_status_cache_value,
)
from upstage_assets.operations.event_log_storage import PooledPostgresEventLogStorage, postgres_storage_yaml

PARTITIONS = StaticPartitionsDefinition([f"doc-{i}" for i in range(6)])
RANGE = {ASSET_PARTITION_RANGE_START_TAG: "doc-0", ASSET_PARTITION_RANGE_END_TAG: "doc-5"}


def _pair(fail: bool):
    @multi_asset(specs=[AssetSpec("left"), AssetSpec("right")], partitions_def=PARTITIONS,
                 check_specs=[AssetCheckSpec("sane", asset="right")],  # as the pipeline has: a mixed batch
                 backfill_policy=BackfillPolicy.single_run(), name="pair_fails" if fail else "pair")
    def pair(context):
        if fail:
            raise RuntimeError("the step fails")
        yield MaterializeResult(asset_key="left")  # no IO manager: one result for every partition of the range
        yield MaterializeResult(asset_key="right")
        yield AssetCheckResult(passed=True, asset_key="right", check_name="sane")
    return pair


@pytest.fixture
def pooled_instance(postgres_server, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "")  # recorded as unset, so the teardown unsets it
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE")
    url = postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
    (tmp_path / "dagster.yaml").write_text(postgres_storage_yaml(url) + "telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def _event_log_inserts(instance: DagsterInstance) -> list[int]:
    """Count the INSERTs into event_logs on the storage's engine (one entry per statement)."""
    inserts: list[int] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO EVENT_LOGS"):
            inserts.append(1)
    event.listen(instance.event_log_storage._engine, "before_cursor_execute", count)
    return inserts


def _backend_pids(instance: DagsterInstance) -> set[int]:
    with instance.event_log_storage.index_connection() as conn:
        return {int(conn.exec_driver_sql("select pg_backend_pid()").scalar_one())}


def test_the_instance_config_selects_the_pooled_storage(pooled_instance):
    assert isinstance(pooled_instance.event_log_storage, PooledPostgresEventLogStorage)
    assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == "1000", "Dagster hands batches to storages only where set"
    assert len(_backend_pids(pooled_instance) | _backend_pids(pooled_instance)) == 1, "one pooled connection, reused"


def test_planned_events_of_a_run_are_one_insert_and_mark_a_failed_run_per_partition(pooled_instance):
    inserts = _event_log_inserts(pooled_instance)
    result = materialize([_pair(fail=True)], instance=pooled_instance, tags=RANGE, raise_on_error=False)
    assert not result.success
    run_id = result.run_id
    planned = pooled_instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    assert sorted((r.dagster_event.asset_key.to_user_string(), r.dagster_event.partition) for r in planned) == sorted(
        (asset, key) for asset in ("left", "right") for key in PARTITIONS.get_partition_keys())
    planned_ids = {r.storage_id for r in pooled_instance.event_log_storage.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records}
    assert len(planned_ids) == 12, "a row each"
    checks = pooled_instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED)
    assert len(checks) == 1, "the check's planned event, in the same batch, is stored too"
    # the run's other events are written one by one as ever: the 12 planned ones took one statement
    assert len(inserts) == len(pooled_instance.all_logs(run_id)) - 12 + 1

    for asset in ("left", "right"):
        key = AssetKey(asset)
        status = get_and_update_asset_status_cache_value(pooled_instance, key, PARTITIONS)
        assert status.deserialize_failed_partition_subsets(PARTITIONS).get_partition_keys() == set(
            PARTITIONS.get_partition_keys()), "every partition of the failed run is failed, as with Dagster's storage"
        assert pooled_instance.get_latest_materialization_event(key) is None
        records = pooled_instance.get_asset_records([key])
        assert records and records[0].asset_entry.last_run_id == run_id


def test_a_finished_range_run_materializes_every_partition(pooled_instance):
    result = materialize([_pair(fail=False)], instance=pooled_instance, tags=RANGE)
    assert result.success
    for asset in ("left", "right"):
        assert pooled_instance.get_materialized_partitions(AssetKey(asset)) == set(PARTITIONS.get_partition_keys())
        status = get_and_update_asset_status_cache_value(pooled_instance, AssetKey(asset), PARTITIONS)
        assert not status.deserialize_failed_partition_subsets(PARTITIONS).get_partition_keys()


def test_asset_event_tags_are_written_without_asking_the_catalog_each_time(pooled_instance):
    """Dagster asks whether the tags table exists before each asset event's tags, on a connection of
    its own; the storage keeps the yes, so five materializations ask at most once, and every event's
    data version is still stored."""
    catalog_queries: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "pg_catalog.pg_class" in statement:
            catalog_queries.append(statement)
    event.listen(pooled_instance.event_log_storage._engine, "before_cursor_execute", count)
    key = AssetKey("tagged")
    for version in range(5):
        pooled_instance.report_runless_asset_event(
            AssetMaterialization(asset_key=key, tags={DATA_VERSION_TAG: f"v{version}"}))
    assert len(catalog_queries) <= 1
    stored = pooled_instance.event_log_storage.get_event_tags_for_asset(key)
    assert sorted(tags[DATA_VERSION_TAG] for tags in stored) == [f"v{version}" for version in range(5)]
