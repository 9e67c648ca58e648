"""The instance's PostgreSQL event log for processes that write many events: pooled connections,
a run's "materialization planned" events written as one batch, and new partitions that keep the UI's
partition status caches valid (``operations/partition_status_caches.py``).

Dagster logs one ``ASSET_MATERIALIZATION_PLANNED`` event per asset and partition when a run is
created, in the process that creates it (the daemon, for a backfill's runs). Its PostgreSQL storage
writes each on two new connections (the event, then the asset's row), so a run of 100 documents and
four assets costs 400 events, 800 connections: on a two-core host about 20 s per run, and the
daemon created a backfill's runs more slowly than they finished (``bench/results/throughput.md``).
This storage keeps a small pool of checked connections and writes a batch of planned events as one
INSERT plus one update of each asset's row. The events are the same rows Dagster would write one by
one, so the UI's in-progress and failed partitions read them as before.

Dagster hands the storage a batch only where ``DAGSTER_EVENT_BATCH_SIZE`` is set in the process
that logs the events; this storage sets it (``event_batch_size``) unless the deployment did.
Configured in ``dagster.yaml`` as the ``event_log_storage`` (``postgres_storage_yaml`` writes the
three storage sections); every process reading that file (webserver, daemon, code server, runs)
must be able to import ``upstage_assets``: true of the compose stack and the project's image, not
of Dagster's stock images (the Helm chart keeps Dagster's storage).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import DagsterEventType, EventLogEntry, Field, IntSource
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

from upstage_assets.dagster_compat import (
    EVENT_BATCH_SIZE_ENV,
    SqlEventLogStorageTable,
    pool_storage_connections,
)
from upstage_assets.operations import pooled_storages
from upstage_assets.operations.partition_status_caches import add_partitions_keeping_status_caches

DEFAULT_EVENT_BATCH_SIZE = 1000  # a run of 250 documents' planned events (four assets) in one write
PLANNED = DagsterEventType.ASSET_MATERIALIZATION_PLANNED
MODULE, CLASS = __name__, "PooledPostgresEventLogStorage"


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """Dagster's PostgreSQL event log over pooled connections, planned events written in batches."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data: Any = None,
                 token_provider: Any = None, event_batch_size: int = DEFAULT_EVENT_BATCH_SIZE) -> None:
        self._tables_present: set[str] = set()  # before Dagster's init, which asks has_table
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        pool_storage_connections(self)
        if event_batch_size > 0:
            os.environ.setdefault(EVENT_BATCH_SIZE_ENV, str(event_batch_size))

    @classmethod
    def config_type(cls) -> Any:
        stock: Any = super().config_type()  # Dagster's fields: a mapping, typed as any config type
        return {**stock, "event_batch_size": Field(
            IntSource, is_required=False, default_value=DEFAULT_EVENT_BATCH_SIZE,
            description="DAGSTER_EVENT_BATCH_SIZE for this process unless already set; 0 leaves it unset")}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> PooledPostgresEventLogStorage:
        return cls(pg_url_from_config(config_value), config_value.get("should_autocreate_tables", True), inst_data,
                   get_token_provider_from_config(config_value),
                   config_value.get("event_batch_size", DEFAULT_EVENT_BATCH_SIZE))

    def has_table(self, table_name: str) -> bool:
        """Dagster asks before it writes each asset event's tags, on a connection of its own: a catalog
        query and a pre-ping per materialization. A table that exists stays (a wipe deletes rows), so a
        yes is kept; a no is asked again, since a migration may add the table."""
        if table_name in self._tables_present:
            return True
        present = super().has_table(table_name)
        if present:
            self._tables_present.add(table_name)
        return present

    def add_dynamic_partitions(self, partitions_def_name: str, partition_keys: Sequence[str]) -> None:
        """Dagster's insert, plus the UI's status caches kept valid (``operations/partition_status_caches.py``)."""
        if not partition_keys:
            return
        self._check_partitions_table()
        with self.index_transaction() as conn:
            add_partitions_keeping_status_caches(conn, partitions_def_name, partition_keys)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        planned = [e for e in events if e.dagster_event_type == PLANNED]
        if len(planned) < 2:
            super().store_event_batch(events)
            return
        self._store_planned_batch(planned)
        others = [e for e in events if e.dagster_event_type != PLANNED]  # an asset check's planned event
        if others:
            super().store_event_batch(others)

    def _store_planned_batch(self, events: Sequence[EventLogEntry]) -> None:
        with self._connect() as conn:
            rows = conn.execute(self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
            event_ids = [int(row[0]) for row in rows.fetchall()]
        last_by_asset: dict[str, tuple[EventLogEntry, int]] = {}
        for event, event_id in zip(events, event_ids, strict=True):
            asset_key = event.get_dagster_event().asset_key
            if asset_key is not None:
                last_by_asset[asset_key.to_string()] = (event, event_id)
        with self.index_transaction() as conn:  # each asset's row holds its latest planned event
            for event, event_id in last_by_asset.values():
                self._store_asset_event(conn, event, event_id)


def postgres_storage_yaml(postgres_url: str) -> str:
    """The three storage sections of a dagster.yaml on PostgreSQL, each over pooled connections (the
    run and schedule storages: ``operations/pooled_storages.py``).

    ``postgres_url`` is a YAML value: a literal URL, or ``{env: NAME}`` to read it from the environment."""
    value = postgres_url if postgres_url.startswith("{") else json.dumps(postgres_url)  # a quoted YAML scalar
    sections = {"run_storage": (pooled_storages.MODULE, pooled_storages.PooledPostgresRunStorage.__name__),
                "event_log_storage": (MODULE, CLASS),
                "schedule_storage": (pooled_storages.MODULE, pooled_storages.PooledPostgresScheduleStorage.__name__)}
    return "".join(f"{section}:\n  module: {module}\n  class: {name}\n  config:\n    postgres_url: {value}\n"
                   for section, (module, name) in sections.items())
