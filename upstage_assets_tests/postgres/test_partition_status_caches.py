"""New partitions keep the UI's partition status caches valid (``operations/partition_status_caches.py``),
on a real PostgreSQL server through the shipped storage: after an add the caches are keyed by the new
key list, so the UI does not rebuild them, and what they say equals a rebuild from the event log."""

from __future__ import annotations

import threading
import uuid

import pytest
from dagster import AssetKey, DagsterInstance, DynamicPartitionsDefinition, asset, materialize

from upstage_assets.dagster_compat import get_and_update_asset_status_cache_value
from upstage_assets.operations.event_log_storage import postgres_storage_yaml

DOCS = DynamicPartitionsDefinition(name="docs")
ASSETS = (AssetKey("parsed"), AssetKey("validated"))


@asset(partitions_def=DOCS)
def parsed(context) -> int:
    if context.partition_key.startswith("bad"):
        raise ValueError("unreadable document")
    return 1


@asset(partitions_def=DOCS)
def validated(parsed: int) -> int:
    return parsed


def _instance(tmp_path, storage_yaml: str) -> DagsterInstance:
    (tmp_path / "dagster.yaml").write_text(storage_yaml + "telemetry:\n  enabled: false\n")
    return DagsterInstance.from_config(str(tmp_path))


@pytest.fixture
def instance(postgres_server, tmp_path):
    url = postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
    with _instance(tmp_path, postgres_storage_yaml(url)) as instance:
        yield instance


def _run(instance: DagsterInstance, *keys: str) -> None:
    for key in keys:
        materialize([parsed, validated], instance=instance, partition_key=key, raise_on_error=False)


def _status(instance: DagsterInstance, key: AssetKey) -> tuple[set[str], set[str]]:
    """Materialized and failed partitions, as the UI reads them (updating the cache on the way)."""
    value = get_and_update_asset_status_cache_value(instance, key, DOCS)
    assert value is not None
    return (set(value.deserialize_materialized_partition_subsets(DOCS).get_partition_keys()),
            set(value.deserialize_failed_partition_subsets(DOCS).get_partition_keys()))


def _cache_is_current(instance: DagsterInstance, key: AssetKey) -> bool:
    """The stored cache is keyed by today's key list: Dagster reads it instead of rebuilding it."""
    record = instance.get_asset_records([key])[0]
    cached = record.asset_entry.cached_status
    return cached is not None and cached.partitions_def_id == instance.get_dynamic_partitions_definition_id("docs")


def _rebuilt(instance: DagsterInstance, key: AssetKey) -> tuple[set[str], set[str]]:
    instance.wipe_asset_cached_status([key])
    return _status(instance, key)


def test_adding_documents_keeps_each_status_cache_valid_and_equal_to_a_rebuild(instance):
    instance.add_dynamic_partitions("docs", ["a", "b", "bad-c"])
    _run(instance, "a", "b", "bad-c")
    before = {key: _status(instance, key) for key in ASSETS}
    assert before[AssetKey("parsed")] == ({"a", "b"}, {"bad-c"})

    instance.add_dynamic_partitions("docs", ["d", "e", "a"])  # "a" is known already

    for key in ASSETS:
        assert _cache_is_current(instance, key), f"{key} would be rebuilt by the next UI query"
        assert _status(instance, key) == before[key]
    _run(instance, "d")  # the moved cache takes later events as usual
    after = {key: _status(instance, key) for key in ASSETS}
    assert after[AssetKey("parsed")] == ({"a", "b", "d"}, {"bad-c"})
    assert after == {key: _rebuilt(instance, key) for key in ASSETS}


def test_a_readded_key_with_history_is_left_to_dagsters_rebuild(instance):
    instance.add_dynamic_partitions("docs", ["a", "x"])
    _run(instance, "a", "x")
    instance.delete_dynamic_partition("docs", "x")
    assert _status(instance, AssetKey("parsed")) == ({"a"}, set())  # x is no partition: not counted

    instance.add_dynamic_partitions("docs", ["x"])  # x's materialization counts again

    assert not _cache_is_current(instance, AssetKey("parsed"))
    assert _status(instance, AssetKey("parsed")) == ({"a", "x"}, set())


def test_adds_at_once_from_several_processes_leave_the_caches_valid(instance):
    instance.add_dynamic_partitions("docs", ["a"])
    _run(instance, "a")
    for key in ASSETS:
        _status(instance, key)
    writers = 6
    start = threading.Barrier(writers, timeout=30)
    errors: list[BaseException] = []

    def add(writer: int) -> None:
        try:
            start.wait()
            for batch in range(3):
                instance.add_dynamic_partitions("docs", [f"w{writer}-{batch}-{i}" for i in range(5)])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=add, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(instance.get_dynamic_partitions("docs")) == 1 + writers * 3 * 5
    for key in ASSETS:
        assert _cache_is_current(instance, key)
        assert _status(instance, key) == ({"a"}, set())


def test_dagsters_stock_storage_invalidates_the_caches_on_every_add(postgres_server, tmp_path):
    """Why the storage moves the caches: with Dagster's own storage one new key outdates every cache."""
    url = postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
    with _instance(tmp_path, f"storage:\n  postgres:\n    postgres_url: {url}\n") as stock:
        stock.add_dynamic_partitions("docs", ["a"])
        _run(stock, "a")
        _status(stock, AssetKey("parsed"))
        assert _cache_is_current(stock, AssetKey("parsed"))
        stock.add_dynamic_partitions("docs", ["b"])
        assert not _cache_is_current(stock, AssetKey("parsed"))


def test_a_cache_that_cannot_be_read_or_moved_never_fails_an_add(instance, monkeypatch):
    """Intake must not stop over a cache: one written by another Dagster version is skipped, and a
    failure while moving the others rolls back only the move (the UI rebuilds), never the new keys."""
    from upstage_assets.operations import partition_status_caches

    instance.add_dynamic_partitions("docs", ["a"])
    _run(instance, "a")
    for key in ASSETS:
        _status(instance, key)
    with instance.event_log_storage.index_connection() as conn:
        conn.exec_driver_sql("UPDATE asset_keys SET cached_status_data = '{\"__class__\": \"FromElsewhere\"}' "
                             "WHERE asset_key = %s", (AssetKey("parsed").to_string(),))
    instance.add_dynamic_partitions("docs", ["b"])
    assert _cache_is_current(instance, AssetKey("validated"))
    assert _status(instance, AssetKey("parsed")) == ({"a"}, set())  # Dagster rebuilt the unreadable one

    def broken(*_args):
        raise RuntimeError("the move failed")

    monkeypatch.setattr(partition_status_caches, "partition_keys_definition_id", broken)
    instance.add_dynamic_partitions("docs", ["c"])
    assert instance.get_dynamic_partitions("docs") == ["a", "b", "c"]
    monkeypatch.undo()
    assert not _cache_is_current(instance, AssetKey("validated"))
    assert _status(instance, AssetKey("validated")) == ({"a"}, set())


def test_a_role_that_may_not_lock_the_partitions_table_still_adds(instance, postgres_server, tmp_path):
    """A database user allowed to read and insert partition keys, but not to lock their table (LOCK in
    this mode needs UPDATE, DELETE or TRUNCATE), adds them as Dagster's storage would; the UI rebuilds."""
    instance.add_dynamic_partitions("docs", ["a"])
    _run(instance, "a")
    _status(instance, AssetKey("parsed"))
    role = f"limited_{uuid.uuid4().hex[:6]}"
    url = instance.event_log_storage.postgres_url
    with instance.event_log_storage.index_connection() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD 'limited'")
        conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        conn.exec_driver_sql(f"REVOKE UPDATE, DELETE ON dynamic_partitions FROM {role}")
    scheme, rest = url.split("://", 1)
    limited_url = f"{scheme}://{role}:limited@{rest.split('@', 1)[1]}"
    limited_dir = tmp_path / "limited"
    limited_dir.mkdir()
    with _instance(limited_dir, postgres_storage_yaml(limited_url)) as limited:
        limited.add_dynamic_partitions("docs", ["b"])
        assert limited.get_dynamic_partitions("docs") == ["a", "b"]
    assert not _cache_is_current(instance, AssetKey("parsed"))
    assert _status(instance, AssetKey("parsed")) == ({"a"}, set())
