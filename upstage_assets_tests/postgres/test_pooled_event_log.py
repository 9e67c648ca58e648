"""A run worker's PostgreSQL event log over pooled, checked connections (``dagster_compat.
pool_event_log_connections``): writes land as before, the pool keeps its connection between
writes, and a database restart costs a reconnect, never a failed write on a dead connection."""

from __future__ import annotations

import uuid

import yaml
from dagster import AssetKey, AssetMaterialization, AssetRecordsFilter, DagsterInstance, instance_for_test

from upstage_assets.dagster_compat import pool_event_log_connections
from upstage_assets_tests.fixtures.postgres import restartable_postgres

KEY = AssetKey(["pooled"])


def _backend_pids(instance: DagsterInstance) -> set[int]:
    """The server processes this process is connected through, asked over the event log's engine."""
    with instance.event_log_storage.index_connection() as conn:
        return {int(conn.exec_driver_sql("select pg_backend_pid()").scalar_one())}


def _materialize(instance: DagsterInstance, partition: str) -> None:
    instance.report_runless_asset_event(AssetMaterialization(KEY, partition=partition))


def test_pooled_writes_reuse_one_connection_and_survive_a_restart(tmp_path):
    with restartable_postgres() as pg:
        url = pg.server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
        (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(
            {"storage": {"postgres": {"postgres_url": url}}, "telemetry": {"enabled": False}}))
        with DagsterInstance.from_config(str(tmp_path)) as instance:
            instance.add_dynamic_partitions("docs", ["a", "b", "c"])
            unpooled = _backend_pids(instance) | _backend_pids(instance)
            assert len(unpooled) == 2, "Dagster's default: a new server process for every connection"

            assert pool_event_log_connections(instance)
            assert not pool_event_log_connections(instance), "once per process"
            _materialize(instance, "a")
            assert len(_backend_pids(instance) | _backend_pids(instance)) == 1, "one pooled connection, reused"

            pg.stop()
            pg.start()  # the pooled connection is dead now
            _materialize(instance, "b")  # checked before use: reconnects instead of failing
            _materialize(instance, "c")
            records = instance.fetch_materializations(AssetRecordsFilter(asset_key=KEY), limit=10).records
            assert sorted(r.partition_key for r in records) == ["a", "b", "c"]


def test_other_event_logs_are_left_alone(tmp_path):
    with instance_for_test(temp_dir=str(tmp_path)) as sqlite_instance:
        assert not pool_event_log_connections(sqlite_instance)
        _materialize(sqlite_instance, "a")
        assert sqlite_instance.fetch_materializations(KEY, limit=1).records
