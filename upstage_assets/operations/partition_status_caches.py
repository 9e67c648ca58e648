"""Adding documents keeps Dagster's partition status caches valid, so the UI does not rebuild them.

The UI reads an asset's materialized, failed and in-progress partitions from a cache Dagster keeps in
the asset's row. For a dynamic partitions definition the cache is keyed by a hash of *every*
partition key, in order, so each new partition (every intake tick that registers a document) made the
next UI query rebuild the cache of every document asset from the event log: 16-25 s for the asset
graph at 100,000 documents (``docs/scale.md``).

Adding partitions changes no partition's status, as long as the new keys have no events of that
asset yet: Dagster counts only events of keys that are partitions, and an added key has none of its
own. So after an add, each cache that was valid for the old key list is valid for the new one, and
this module moves it to the new list's hash, in the same transaction as the insert:

* the partitions table is locked against other writers (readers go on), so the key list before the
  insert and the inserted keys give the new list exactly, in Dagster's order (by row id);
* a cache moves only if its hash is the old list's and the asset has no event for any inserted key
  (a document re-registered after its partition was deleted keeps its history; Dagster rebuilds it);
* a cache is rewritten only if its row still holds what was read (a compare-and-set on its digest, so
  runs writing their events are not held up); a rebuild the UI computed from the old list and writes
  later only costs the UI one rebuild, as before;
* a cache that cannot be read is skipped, and a failed move rolls back to a savepoint: intake never
  fails over a cache.

Deleting a partition is left to Dagster: that can change a status, and its rebuild handles it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as db
from dagster import DagsterEventType
from sqlalchemy.dialects import postgresql

from upstage_assets.dagster_compat import (
    AssetKeyTable,
    AssetStatusCacheValue,
    DynamicPartitionsTable,
    SqlEventLogStorageTable,
    deserialize_value,
    partition_keys_definition_id,
    serialize_value,
)

logger = logging.getLogger(__name__)
NOT_MOVED = "partition status caches not moved; the UI rebuilds them"

# The events an asset's status cache is built from (materialized, failed and in-progress partitions).
STATUS_EVENT_TYPES = [DagsterEventType.ASSET_MATERIALIZATION.value, DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value]


def add_partitions_keeping_status_caches(conn: Any, partitions_def_name: str, partition_keys: Sequence[str]) -> int:
    """Insert the new keys of ``partition_keys`` (a PostgreSQL connection inside a transaction) and move
    the status caches that stay valid to the new key list. Returns how many caches were moved."""
    try:
        with conn.begin_nested():  # kept on success: the lock holds until the add commits
            conn.execute(db.text(f"LOCK TABLE {DynamicPartitionsTable.name} IN SHARE ROW EXCLUSIVE MODE"))
            caches = _partitioned_caches(conn)
            before = _key_rows(conn, partitions_def_name) if caches else []
    except db.exc.DBAPIError:  # e.g. a role allowed to insert keys but not to lock the table
        logger.warning(NOT_MOVED, exc_info=True)
        caches, before = {}, []
    inserted = sorted(conn.execute(
        postgresql.insert(DynamicPartitionsTable)
        .values([{"partitions_def_name": partitions_def_name, "partition": key} for key in dict.fromkeys(partition_keys)])
        .on_conflict_do_nothing()
        .returning(DynamicPartitionsTable.c.id, DynamicPartitionsTable.c.partition)).fetchall())
    if not caches or not inserted or (before and inserted[0][0] <= before[-1][0]):
        return 0  # nothing to move, nothing new, or ids not after the old ones: the new order is unknown
    old_keys = [row[1] for row in before]
    added = [row[1] for row in inserted]
    try:
        with conn.begin_nested():  # the keys are added whatever happens to the caches
            return _move_caches(conn, caches, old_keys, added)
    except Exception:  # noqa: BLE001 - a cache not moved costs one rebuild, never an add
        logger.warning(NOT_MOVED, exc_info=True)
        return 0


def _move_caches(conn: Any, caches: dict[str, tuple[str, Any]], old_keys: list[str], added: list[str]) -> int:
    old_id = partition_keys_definition_id(old_keys)
    valid = {asset_key: cache for asset_key, cache in caches.items() if cache[1].partitions_def_id == old_id}
    if not valid:
        return 0
    with_history = {row[0] for row in conn.execute(
        db.select(SqlEventLogStorageTable.c.asset_key).distinct()
        .where(SqlEventLogStorageTable.c.asset_key.in_(list(valid)))
        .where(SqlEventLogStorageTable.c.dagster_event_type.in_(STATUS_EVENT_TYPES))  # the index's order
        .where(SqlEventLogStorageTable.c.partition.in_(added)))}
    new_id = partition_keys_definition_id(old_keys + added)
    moved = 0
    for asset_key, (text, value) in valid.items():
        if asset_key not in with_history:
            digest = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
            moved += conn.execute(
                AssetKeyTable.update()
                .where(AssetKeyTable.c.asset_key == asset_key,  # unless rewritten since it was read
                       db.func.md5(AssetKeyTable.c.cached_status_data) == digest)
                .values(cached_status_data=serialize_value(value._replace(partitions_def_id=new_id)))).rowcount
    return moved


def _partitioned_caches(conn: Any) -> dict[str, tuple[str, Any]]:
    """Each asset's stored status cache that belongs to a partitions definition: its text and value."""
    caches = {}
    for asset_key, text in conn.execute(db.select(AssetKeyTable.c.asset_key, AssetKeyTable.c.cached_status_data)
                                        .where(AssetKeyTable.c.cached_status_data.is_not(None))):
        try:
            value = deserialize_value(text, AssetStatusCacheValue)
        except Exception:  # noqa: BLE001 - written by another Dagster version: left to Dagster
            continue
        if value.partitions_def_id is not None:
            caches[asset_key] = (text, value)
    return caches


def _key_rows(conn: Any, partitions_def_name: str) -> list[tuple[int, str]]:
    """(id, key) of every partition in Dagster's order, through the driver's cursor (100,000 rows: about
    half the time of SQLAlchemy's result rows)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(f"SELECT id, partition FROM {DynamicPartitionsTable.name} "
                       "WHERE partitions_def_name = %s ORDER BY id", (partitions_def_name,))
        return cursor.fetchall()
    finally:
        cursor.close()
