"""The one place that reaches into Dagster's private modules (``dagster._...``).

Everything here has no public name in Dagster 1.13; everything that has one is imported from
``dagster`` directly elsewhere. ``upstage_assets_tests/test_dagster_compat.py`` fails loudly
when a pinned-Dagster upgrade moves or changes one of these, so an upgrade is one file's work.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as db
from dagster import DagsterEventType
from dagster import _check as check
from dagster._core.definitions.data_version import DATA_VERSION_TAG
from dagster._core.definitions.partitions.utils.base import generate_partition_key_based_definition_id
from dagster._core.definitions.resource_annotation import TreatAsResourceParam
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.events import (
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventBatchMetadata,
    EngineEventData,
    StepMaterializationData,
    generate_event_batch_id,
)
from dagster._core.execution.backfill import (
    BULK_ACTION_TERMINAL_STATUSES,
    BulkActionsFilter,
    BulkActionStatus,
    PartitionBackfill,
)
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
)
from dagster._core.pipes.utils import extract_message_or_forward_to_file
from dagster._core.storage.dagster_run import ACTIVE_RUN_STATUSES
from dagster._core.storage.event_log.schema import (
    AssetKeyTable,
    DynamicPartitionsTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.partition_status_cache import (
    AssetStatusCacheValue,
    get_and_update_asset_status_cache_value,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
    PARTITION_NAME_TAG,
)
from dagster._core.utils import make_new_backfill_id
from dagster._serdes import deserialize_value, serialize_value

# Dagster's run entry point: what a run process imports before it reads its arguments (the fork server
# imports it ahead, ``operations/code_server.py``).
RUN_ENTRY_MODULE = "dagster._grpc.impl"


def import_run_executor() -> None:
    """Import the in-process executor the project's runs use (the fork server's preload,
    ``operations/run_imports.py``); a run would otherwise import it after the fork."""
    import dagster._core.executor.in_process  # noqa: F401


def grpc_api_server_class() -> Any:
    """Dagster's gRPC API servicer (``DagsterApiServer``); imported when asked (the code server only)."""
    from dagster._grpc.server import DagsterApiServer

    return DagsterApiServer


def grpc_server_command() -> Any:
    """``dagster api grpc``'s click command, to run it in-process."""
    from dagster._cli.api import grpc_command

    return grpc_command


def daemon_command() -> Any:
    """``dagster-daemon``'s click group, to run it in-process."""
    from dagster._daemon.cli import cli

    return cli


def backfill_loop_parts() -> tuple[Any, Any, Any, Any, float]:
    """What the backfill daemon's loop is made of: the module whose ``execute_backfill_iteration_loop``
    ``BackfillDaemon.core_loop`` calls, one iteration, the loop's span markers, its error report, and its
    interval (s)."""
    from dagster._daemon import daemon
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._daemon.controller import DEFAULT_DAEMON_INTERVAL_SECONDS
    from dagster._daemon.utils import DaemonErrorCapture

    return (daemon, execute_backfill_iteration, daemon.SpanMarker, DaemonErrorCapture,
            float(DEFAULT_DAEMON_INTERVAL_SECONDS))


def queued_run_daemon_class() -> Any:
    """Dagster's run-queue daemon (``QueuedRunCoordinatorDaemon``), an interval daemon: its ``core_loop``
    iterates (``run_iteration``), then waits out ``interval_seconds`` (the dequeue interval)."""
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    return QueuedRunCoordinatorDaemon


def error_info_from_exc_info(exc_info: Any) -> Any:
    """A ``SerializableErrorInfo`` of an exception, what a daemon loop yields for its heartbeat's errors."""
    from dagster._utils.error import serializable_error_info_from_exc_info

    return serializable_error_info_from_exc_info(exc_info)


def instance_from_dir(home: str) -> Any:
    """A ``DagsterInstance`` read from a DAGSTER_HOME folder's dagster.yaml."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    return DagsterInstance.from_ref(InstanceRef.from_dir(home))


__all__ = [
    "backfill_loop_parts", "daemon_command", "error_info_from_exc_info", "grpc_api_server_class", "grpc_server_command",
    "RUN_ENTRY_MODULE", "import_run_executor", "instance_from_dir", "queued_run_daemon_class",
    "ASSET_PARTITION_RANGE_END_TAG", "ASSET_PARTITION_RANGE_START_TAG", "BACKFILL_ID_TAG", "PARTITION_NAME_TAG",
    "ACTIVE_RUN_STATUSES", "BULK_ACTION_TERMINAL_STATUSES", "DATA_VERSION_TAG", "BulkActionStatus", "BulkActionsFilter",
    "CheckStepHealthResult", "EngineEventData", "PartitionBackfill", "RetryMode", "SensorExecutionData", "StepDelegatingExecutor",
    "StepHandler", "StepHandlerContext", "TreatAsResourceParam", "check", "extract_message_or_forward_to_file",
    "get_retries_config", "make_new_backfill_id",
    # bench/scale_state.py writes the events real runs leave, in bulk, through the event log storage:
    "AssetMaterializationPlannedData", "StepMaterializationData",
    # counts the event log answers without shipping every partition key (status at 100,000 documents):
    "dynamic_partition_count", "materialized_partition_counts", "partitions_without_materialization",
    # a run worker's event-log writes over pooled connections instead of one new connection each:
    "pool_event_log_connections", "pool_storage_connections",
    # the pooled event log writes a run's planned events in one INSERT into Dagster's table:
    "SqlEventLogStorageTable",
    # what the UI reads a partition's failed/in-progress state from (tests of that storage):
    "get_and_update_asset_status_cache_value",
    # several documents' materializations of one asset in one event-log write:
    "log_materialization_batch",
    # adding partitions moves the UI's status caches to the new key list (operations/partition_status_caches.py):
    "AssetKeyTable", "AssetStatusCacheValue", "DynamicPartitionsTable", "deserialize_value", "serialize_value",
    "partition_keys_definition_id",
]

# How Dagster identifies a dynamic partitions definition's key list (what its status caches are keyed by).
partition_keys_definition_id = generate_partition_key_based_definition_id


# Dagster has no public count of materialized partitions: ``get_materialized_partitions`` returns
# every key (a GROUP BY over the asset's events, then 100,000 rows into Python at 100,000
# documents). The queries below ask the same tables the same question and let the database
# count: the materialization events of the asset (after its last wipe, with Dagster's own wipe
# filter) joined to the dynamic partitions, which live in the event log's index shard too. They
# return None where the event log is not SQL; callers then take the public route.
# ``upstage_assets_tests/test_dagster_compat.py`` checks them against the public API.


def _materialized_of(storage: SqlEventLogStorage, asset_key: Any) -> Any:
    """``EXISTS`` a materialization of ``asset_key`` for the outer query's partition."""
    events, partitions = SqlEventLogStorageTable, DynamicPartitionsTable
    query = db.select(events.c.id).where(
        events.c.asset_key == asset_key.to_string(),
        events.c.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION.value,
        events.c.partition == partitions.c.partition)
    query = storage._add_assets_wipe_filter_to_query(query, storage._get_assets_details([asset_key]), [asset_key])
    return query.exists()


def dynamic_partition_count(instance: Any, partitions_def_name: str) -> int | None:
    """``len(instance.get_dynamic_partitions(name))``, counted by the database."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        return None
    partitions = DynamicPartitionsTable
    query = db.select(db.func.count()).where(partitions.c.partitions_def_name == partitions_def_name)
    with storage.index_connection() as conn:
        return int(conn.execute(query).scalar_one())


def materialized_partition_counts(instance: Any, asset_keys: Any, partitions_def_name: str) -> dict[Any, int] | None:
    """Per asset key: ``len(instance.get_materialized_partitions(key) & set(instance.get_dynamic_partitions(name)))``,
    for every key in one pass over the event log's index."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        return None
    keys = list(asset_keys)
    events, partitions = SqlEventLogStorageTable, DynamicPartitionsTable
    query = (db.select(events.c.asset_key, db.func.count(db.distinct(events.c.partition)))
             .select_from(events.join(partitions, db.and_(partitions.c.partition == events.c.partition,
                                                          partitions.c.partitions_def_name == partitions_def_name)))
             .where(events.c.asset_key.in_([key.to_string() for key in keys]),
                    events.c.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION.value)
             .group_by(events.c.asset_key))
    query = storage._add_assets_wipe_filter_to_query(query, storage._get_assets_details(keys), keys)
    with storage.index_connection() as conn:
        found = {str(row[0]): int(row[1]) for row in conn.execute(query)}
    return {key: found.get(key.to_string(), 0) for key in keys}


def partitions_without_materialization(instance: Any, asset_key: Any, partitions_def_name: str) -> list[str] | None:
    """The dynamic partitions ``asset_key`` has no materialization of, in partition order:
    ``[k for k in instance.get_dynamic_partitions(name) if k not in instance.get_materialized_partitions(key)]``."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        return None
    partitions = DynamicPartitionsTable
    query = (db.select(partitions.c.partition)
             .where(partitions.c.partitions_def_name == partitions_def_name, ~_materialized_of(storage, asset_key))
             .order_by(partitions.c.id))
    with storage.index_connection() as conn:
        return [str(row[0]) for row in conn.execute(query)]


# Dagster's PostgreSQL event log opens a new connection for every write (``NullPool``, so that an
# idle instance holds none); a batch writes several events per document, and on a loaded host a new
# PostgreSQL connection (a forked backend, authentication) costs more than the write itself.
# Measured here (150 materializations each, interleaved, load 10): 48 ms per event with a connection
# each, 25 ms pooled. The pool checks a connection before lending it (``pool_pre_ping``), so a
# database restart or failover costs one reconnect, never a failed write on a dead connection.
POOLED_FLAG = "_upstage_assets_pooled"


def pool_event_log_connections(instance: Any, *, pool_size: int = 3, max_overflow: int = 2) -> bool:
    """Give this process's PostgreSQL event log a small pool of checked connections (once; other
    storages, and one already pooled, are left alone). Returns whether it did."""
    storage = instance.event_log_storage
    if not _is_postgres_event_log(storage) or getattr(storage, POOLED_FLAG, False):
        return False
    pool_storage_connections(storage, pool_size=pool_size, max_overflow=max_overflow)
    return True


def pool_storage_connections(storage: Any, *, pool_size: int = 3, max_overflow: int = 2) -> None:
    """Replace a PostgreSQL storage's connection-per-use engine by a small pool of checked ones.

    Three stay open: more than one is in use at moments, and a connection past ``pool_size`` is
    opened and closed for each use (with one kept, a profile of a run worker found a fifth of its
    event-log time spent connecting). Most recent first, so sequential writes reuse one connection."""
    from dagster_postgres.utils import create_pg_engine

    previous = storage._engine
    storage._engine = create_pg_engine(storage.postgres_url, storage._token_provider, isolation_level="AUTOCOMMIT",
                                       pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True,
                                       pool_use_lifo=True, pool_recycle=3600)
    setattr(storage, POOLED_FLAG, True)
    previous.dispose()


def _is_postgres_event_log(storage: Any) -> bool:
    try:
        from dagster_postgres.event_log import PostgresEventLogStorage
    except ImportError:  # dagster-postgres not installed: no PostgreSQL storage either
        return False
    return isinstance(storage, PostgresEventLogStorage)


# Dagster writes the materializations of one asset as a batch (one INSERT for all of them, one
# index transaction) when a step outputs several partitions and ``DAGSTER_EVENT_BATCH_SIZE`` is
# set; ``context.log_event`` has no such path. A batch step that finishes many documents' stages
# at once takes the same one, so its event-log writes cost a round trip per asset instead of per
# document. PostgreSQL's storage writes a batch as one statement; others write each event in turn.
EVENT_BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"

# Dagster's run queue counts a run that started less than this many seconds ago (default 5) as holding
# its root steps' pool slots, on top of the slots those steps have already claimed: read each time the
# queue builds its ``GlobalOpConcurrencyLimitsCounter`` (``_core/op_concurrency_limits_counter.py``).
STARTED_RUN_POOL_ALLOTMENT_ENV = "DAGSTER_OP_CONCURRENCY_KEYS_ALLOTTED_FOR_STARTED_RUN_SECONDS"


def op_concurrency_counter(instance: Any, queued_runs: Sequence[Any], in_progress_records: Sequence[Any]) -> Any:
    """The run queue's view of the pools (Dagster's counter, as its queue builds it): ``is_blocked(run)``."""
    from dagster._core.op_concurrency_limits_counter import GlobalOpConcurrencyLimitsCounter

    storage = instance.event_log_storage
    return GlobalOpConcurrencyLimitsCounter(instance, queued_runs, in_progress_records,
                                            concurrency_keys=storage.get_concurrency_keys(),
                                            pool_limits=storage.get_pool_limits())


def log_materialization_batch(context: Any, materializations: Sequence[Any]) -> None:
    """``context.log_event`` for each materialization (all of one asset), stored as one batch.

    The events also join the step's own list, as ``log_event`` does, so an in-process result
    lists them as usual. Dagster stores the batch when its last event is logged."""
    if not materializations:
        return
    op_context = getattr(context, "op_execution_context", context)
    step_context = op_context._step_execution_context
    batch_id, last = generate_event_batch_id(), len(materializations) - 1
    with _batch_writing(len(materializations)):
        logged = [DagsterEvent.asset_materialization(step_context, materialization,
                                                     DagsterEventBatchMetadata(batch_id, i == last))
                  for i, materialization in enumerate(materializations)]
    op_context._events.extend(logged)  # only once the batch is stored: a retried batch is listed once


@contextmanager
def _batch_writing(size: int) -> Iterator[None]:
    """Dagster reads the batch size from the environment at each event: set it for this batch only,
    unless the deployment set its own."""
    if os.environ.get(EVENT_BATCH_SIZE_ENV):
        yield
        return
    os.environ[EVENT_BATCH_SIZE_ENV] = str(size)
    try:
        yield
    finally:
        os.environ.pop(EVENT_BATCH_SIZE_ENV, None)
