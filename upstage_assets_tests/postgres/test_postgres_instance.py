"""The deployment's PostgreSQL instance config against a real PostgreSQL server.

The instance is built from the storage sections the aws dagster.yaml ships
(``postgres_url`` from ``DAGSTER_POSTGRES_URL``), so these tests check the shipped config,
not a copy of it.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus

from upstage_assets.definitions import build_definitions
from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS, VALIDATED_DOCUMENTS
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.deploy import instance_yaml_for
from upstage_assets.operations.backlog import missing_documents
from upstage_assets.operations.recovery import plan_batches
from upstage_assets.settings import Settings
from upstage_assets_tests.execution.documents import (
    parquet_rows_by_document,
    register_documents,
    write_invoices,
)
from upstage_assets_tests.launching import launch_batched_runs


@pytest.fixture
def postgres_instance(postgres_server, tmp_path, monkeypatch):
    url = postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", url)
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "")  # recorded as unset, so the teardown unsets it
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE")  # the pooled event log sets it
    shipped = yaml.safe_load(instance_yaml_for("aws").read_text())
    storage = {key: shipped[key] for key in ("run_storage", "event_log_storage", "schedule_storage")}
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({**storage, "telemetry": {"enabled": False}}))
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage).__name__ == "PooledPostgresEventLogStorage"
        yield instance


def test_the_instance_really_stores_in_postgres(postgres_instance, postgres_server):
    import psycopg2

    postgres_instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, ["abc"])
    database = os.environ["DAGSTER_POSTGRES_URL"].rsplit("/", 1)[-1]
    connection = psycopg2.connect(host=postgres_server.host, port=postgres_server.port,
                                  user=postgres_server.user, dbname=database)
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = %s",
                       (DOCUMENTS_PARTITIONS_NAME,))
        assert cursor.fetchall() == [("abc",)]
    connection.close()


@pytest.mark.slow
def test_documents_flow_end_to_end_on_a_postgres_instance(postgres_instance, data_root):
    write_invoices(data_root / "inbox", 6)
    keys = register_documents(data_root / "inbox", data_root / "outputs", postgres_instance)
    run_ids = launch_batched_runs(postgres_instance, keys, 4, defs=build_definitions(Settings.from_env(backend="local")))

    assert len(run_ids) == 2
    assert all(postgres_instance.get_run_by_id(r).status == DagsterRunStatus.SUCCESS for r in run_ids)
    for asset_key in DOCUMENT_ASSET_KEYS:
        assert postgres_instance.get_materialized_partitions(asset_key) == set(keys), asset_key
    assert missing_documents(postgres_instance) == []
    assert parquet_rows_by_document(data_root / "outputs") == dict.fromkeys(keys, 1)


@pytest.mark.slow
def test_twenty_thousand_document_partitions(postgres_instance):
    total, batch = 20_000, 1_000
    keys = [f"{i:016x}" for i in range(total)]
    started = time.perf_counter()
    for start in range(0, total, batch):
        postgres_instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, keys[start:start + batch])
    added = time.perf_counter() - started

    started = time.perf_counter()
    order = postgres_instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME)
    missing = missing_documents(postgres_instance)
    batches = plan_batches(order, missing[::7], 50, max_span=50 * 7)
    planned = time.perf_counter() - started

    assert list(order) == keys, "insertion order is the partition order"
    assert len(missing) == total and not postgres_instance.get_materialized_partitions(VALIDATED_DOCUMENTS)
    assert sum(len(b.documents) for b in batches) == len(missing[::7]) and len(batches) == -(-len(missing[::7]) // 50)
    print(f"\n[postgres] added {total} partitions in batches of {batch}: {added:.2f} s "
          f"({total / added:.0f} partitions/s); read + missing + plan over {total}: {planned:.2f} s")
