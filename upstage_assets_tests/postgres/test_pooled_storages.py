"""The pooled PostgreSQL run and schedule storages (``operations.pooled_storages``) on a real server:
queries reuse a kept connection instead of forking a backend each, more uses at once than the pool
keeps never wait, a backend killed under the pool costs no failed query, and the webserver's own
engine replaces the pool without leaking its connections."""

from __future__ import annotations

import threading
import uuid

import psycopg2
import pytest
from dagster import DagsterInstance
from dagster._core.storage.dagster_run import RunsFilter
from dagster_postgres.run_storage import PostgresRunStorage
from sqlalchemy import event

from upstage_assets.operations.event_log_storage import postgres_storage_yaml
from upstage_assets.operations.pooled_storages import (
    KEPT_CONNECTIONS,
    PooledPostgresRunStorage,
    PooledPostgresScheduleStorage,
)


@pytest.fixture
def database(postgres_server):
    name = f"dagster_{uuid.uuid4().hex[:8]}"
    return name, postgres_server.create_database(name)


@pytest.fixture
def pooled_instance(database, tmp_path):
    (tmp_path / "dagster.yaml").write_text(postgres_storage_yaml(database[1]) + "telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def _connects(engine) -> list[int]:
    """One entry per new DBAPI connection (a forked backend) the engine opens from now on."""
    opened: list[int] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    return opened


def test_the_instance_config_selects_the_pooled_storages(pooled_instance):
    assert isinstance(pooled_instance.run_storage, PooledPostgresRunStorage)
    assert isinstance(pooled_instance.schedule_storage, PooledPostgresScheduleStorage)


def test_queries_reuse_a_kept_connection_where_the_stock_storage_opens_one_each(pooled_instance, database):
    pooled = _connects(pooled_instance.run_storage._engine)
    stock_storage = PostgresRunStorage(database[1])
    stock = _connects(stock_storage._engine)
    for _ in range(10):
        pooled_instance.run_storage.get_runs_count(RunsFilter())
        stock_storage.get_runs_count(RunsFilter())
        pooled_instance.schedule_storage.all_instigator_state()
    assert len(stock) == 10, "the stock storage forks a backend per query"
    assert len(pooled) <= 1, "the pooled one keeps its connection"


def test_more_uses_at_once_than_the_pool_keeps_never_wait_and_the_extra_ones_close(pooled_instance):
    storage = pooled_instance.run_storage
    at_once = KEPT_CONNECTIONS + 4
    inside = threading.Barrier(at_once, timeout=20)  # every thread holds a connection at the same moment
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with storage.connect() as conn:
                conn.exec_driver_sql("select 1")
                inside.wait()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=hold) for _ in range(at_once)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert storage._engine.pool.checkedin() <= KEPT_CONNECTIONS


def test_a_killed_backend_costs_no_failed_query(pooled_instance, database, postgres_server):
    storage = pooled_instance.run_storage
    storage.get_runs_count(RunsFilter())  # a kept connection now exists
    admin = psycopg2.connect(host=postgres_server.host, port=postgres_server.port, user=postgres_server.user,
                             dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (database[0],))
        assert cursor.rowcount >= 1
    admin.close()
    assert storage.get_runs_count(RunsFilter()) == 0  # the pool found the dead connection and opened another


def test_the_webservers_engine_replaces_the_pool_and_closes_its_connections(pooled_instance):
    storage = pooled_instance.run_storage
    storage.get_runs_count(RunsFilter())
    pooled = storage._engine
    assert pooled.pool.checkedin() == 1
    storage.optimize_for_webserver(statement_timeout=5000, pool_recycle=3600, max_overflow=5)
    assert storage._engine is not pooled
    assert pooled.pool.checkedin() == 0, "the replaced pool's connections are closed"
    assert storage.get_runs_count(RunsFilter()) == 0
