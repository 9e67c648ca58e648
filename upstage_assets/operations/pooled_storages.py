"""Dagster's PostgreSQL run and schedule storages over pooled connections.

Dagster's stock storages connect for every query (``NullPool``, so that an idle instance holds
no connection), and PostgreSQL forks a backend for every connection. The daemon polls the run
queue, backfills and sensors each second, and a run worker reads and tags its run as it goes: in
the throughput benchmark those short-lived backends took 29 ms of CPU per document, 11 ms pooled
(``bench/results/throughput.md``, stop 35). These
storages keep two checked connections per process and open (and close) more only while more are
in use at once, so no thread ever waits for one. The event log is pooled the same way
(``operations/event_log_storage.py``); ``postgres_storage_yaml`` writes all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

from upstage_assets.dagster_compat import pool_storage_connections

KEPT_CONNECTIONS = 2  # per storage and process; more at once are opened for the use and closed
MODULE = __name__


class _PooledConnections:
    """What the pooled storages share: built from config as themselves (Dagster's ``from_config_value``
    names its own class), and the webserver's own engine replaces the pool without leaking it."""

    _engine: Any

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data: Any = None,
                 token_provider: Any = None) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)  # type: ignore[call-arg]
        pool_storage_connections(self, pool_size=KEPT_CONNECTIONS, max_overflow=-1)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> Any:
        return cls(pg_url_from_config(config_value), config_value.get("should_autocreate_tables", True), inst_data,
                   get_token_provider_from_config(config_value))

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        pooled = self._engine
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)  # type: ignore[misc]
        pooled.dispose()


class PooledPostgresRunStorage(_PooledConnections, PostgresRunStorage):
    """Dagster's PostgreSQL run storage over a small pool of checked connections."""


class PooledPostgresScheduleStorage(_PooledConnections, PostgresScheduleStorage):
    """Dagster's PostgreSQL schedule storage over a small pool of checked connections."""
