"""The Delta tables: MERGE on document_id, newest wins, the quarantine move, one reader for all."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from dagster import StaticPartitionsDefinition, build_input_context
from deltalake import DeltaTable

from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
from upstage_assets.exporters.base import ExportSource
from upstage_assets.operations.reporting import read_tables as reporting_tables
from upstage_assets.resources.io_managers import ParquetTableIOManager
from upstage_assets.resources.storage import StorageResource
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.table_writer import DeltaTableWriter
from upstage_assets.storage.tables import LegacyTableLayout, open_delta, read_tables
from upstage_assets_tests.storage.rows import LAYOUT, SCHEMA, row_bytes, table_row

NOW = datetime.now(UTC)


def _amounts(table):
    return {r["document_id"]: r["amount"] for r in table.to_pylist()}


def _ids(store, area):
    tables = read_tables(store, LAYOUT, area=area)
    return sorted(tables[SCHEMA.name].column("document_id").to_pylist()) if SCHEMA.name in tables else []


def _rerun_and_quarantine(root):
    """Four documents validated, then one re-run and quarantined, one re-run with a new amount."""
    store = LocalObjectStore(root)
    writer = DeltaTableWriter(store, LAYOUT)
    ids = [f"{i:016x}" for i in range(4)]
    writer.commit([table_row(d, "10.00", NOW - timedelta(hours=1)) for d in ids])
    writer.commit([table_row(ids[0], 0, NOW, quarantine=True), table_row(ids[1], "99.10", NOW)])
    return store, ids


def test_a_rerun_is_an_upsert_and_a_quarantined_document_moves(tmp_path):
    store, ids = _rerun_and_quarantine(tmp_path)
    assert _amounts(read_tables(store, LAYOUT)[SCHEMA.name]) == {
        ids[1]: Decimal("99.1000"), ids[2]: Decimal("10.0000"), ids[3]: Decimal("10.0000")}
    assert _ids(store, LAYOUT.quarantine) == [ids[0]]
    # validated again later: back in the table, out of the quarantine
    DeltaTableWriter(store, LAYOUT).commit([table_row(ids[0], "5", NOW + timedelta(seconds=1))])
    assert _ids(store, LAYOUT.tables) == sorted(ids)
    assert _ids(store, LAYOUT.quarantine) == []


def test_an_older_row_never_replaces_a_newer_one(tmp_path):
    """Two runs committing the same document out of order keep the newest (processed_at)."""
    store = LocalObjectStore(tmp_path)
    writer = DeltaTableWriter(store, LAYOUT)
    writer.commit([table_row("a" * 16, "2", NOW)])
    writer.commit([table_row("a" * 16, "1", NOW - timedelta(minutes=5))])
    writer.commit([table_row("a" * 16, 0, NOW - timedelta(minutes=5), quarantine=True)])
    assert _amounts(read_tables(store, LAYOUT)[SCHEMA.name]) == {"a" * 16: Decimal("2.0000")}
    assert _ids(store, LAYOUT.quarantine) == ["a" * 16]  # the older quarantine row is kept there, not moved


def test_the_io_manager_reads_one_partition_and_drops_quarantined_documents(tmp_path):
    store, ids = _rerun_and_quarantine(tmp_path)
    manager = ParquetTableIOManager(storage=StorageResource(output_root=str(tmp_path), inbox=str(tmp_path / "in")))
    whole = manager.load_input(build_input_context(asset_key=VALIDATED_DOCUMENTS))[SCHEMA.name]
    assert sorted(whole.column("document_id").to_pylist()) == sorted(ids[1:])
    partitions = StaticPartitionsDefinition(ids)
    gone = manager.load_input(build_input_context(asset_key=VALIDATED_DOCUMENTS, partition_key=ids[0],
                                                  asset_partitions_def=partitions))
    assert gone[SCHEMA.name].num_rows == 0
    one = manager.load_input(build_input_context(asset_key=VALIDATED_DOCUMENTS, partition_key=ids[3],
                                                 asset_partitions_def=partitions))
    assert one[SCHEMA.name].column("document_id").to_pylist() == [ids[3]]


def test_every_reader_agrees(tmp_path):
    """Exporters, reporting and the IO manager read the same rows (one reader)."""
    store, ids = _rerun_and_quarantine(tmp_path)
    expected = _amounts(read_tables(store, LAYOUT)[SCHEMA.name])
    assert _amounts(ExportSource(store, LAYOUT, lambda uri: b"").tables()[SCHEMA.name]) == expected
    assert _amounts(reporting_tables(tmp_path)[SCHEMA.name]) == expected
    assert [r["document_id"] for r in reporting_tables(tmp_path, "quarantine")[SCHEMA.name].to_pylist()] == [ids[0]]


def test_each_batch_is_one_version_and_time_travel_reads_an_old_one(tmp_path):
    store, ids = _rerun_and_quarantine(tmp_path)
    location_uri = str(tmp_path / "tables" / SCHEMA.name)
    from upstage_assets.storage.delta import TableLocation

    first = open_delta(TableLocation(location_uri), version=1).to_pyarrow_table()
    assert sorted(first.column("document_id").to_pylist()) == sorted(ids)
    assert open_delta(TableLocation(location_uri)).version() == 2  # create, batch 1, batch 2 (+ move)


def test_an_unmigrated_folder_is_named_not_misread(tmp_path):
    store = LocalObjectStore(tmp_path)
    store.write_bytes(*row_bytes("b" * 16, 1.0, NOW))
    with pytest.raises(LegacyTableLayout, match="migrate-tables"):
        read_tables(store, LAYOUT)
    skipped: list[tuple[str, str]] = []
    assert read_tables(store, LAYOUT, on_unreadable=lambda k, r: skipped.append((k, r))) == {}
    assert skipped and "migrate-tables" in skipped[0][1]


def test_a_schema_name_cannot_lead_the_table_outside_its_area(tmp_path):
    from upstage_assets.errors import UnsafeDocumentKey
    from upstage_assets.storage.delta import table_location

    with pytest.raises(UnsafeDocumentKey):
        table_location(LocalObjectStore(tmp_path), LAYOUT.tables, "../registry")


def _data_files(root, area=LAYOUT.tables) -> int:
    return len(DeltaTable(str(root / area / SCHEMA.name)).file_uris())


def test_a_commit_that_leaves_many_small_files_compacts_them_and_keeps_every_row(tmp_path):
    """Each commit adds a file and a MERGE reads them all: past the threshold, the commit compacts."""
    store = LocalObjectStore(tmp_path)
    writer = DeltaTableWriter(store, LAYOUT, compact_at_small_files=4)
    ids = [f"{i:016x}" for i in range(10)]
    reports = [writer.commit([table_row(d, f"{i}.00", NOW) for i, d in enumerate(ids[k:k + 2], start=k)])
               for k in range(0, 8, 2)]
    uri = writer.location(LAYOUT.tables, SCHEMA.name).uri
    assert [r.compacted for r in reports[:3]] == [{}, {}, {}]
    assert reports[3].compacted == {uri: (4, 1)}, "the fourth small file triggers it: four files into one"
    assert _data_files(tmp_path) == 1
    assert _ids(store, LAYOUT.tables) == ids[:8]
    merged = reports[3].versions[uri]
    assert sorted(open_delta(writer.location(LAYOUT.tables, SCHEMA.name), merged).to_pyarrow_table()
                  .column("document_id").to_pylist()) == ids[:8], "the version the rows were logged at has them all"

    # after compaction a MERGE still upserts, newest wins, and a move to the quarantine still works
    later = NOW + timedelta(seconds=1)
    report = writer.commit([table_row(ids[0], "99.10", later), table_row(ids[1], 0, later, quarantine=True),
                            table_row(ids[8], "1", later)])
    assert report.compacted == {}, "two small files now: below the threshold"
    assert _amounts(read_tables(store, LAYOUT)[SCHEMA.name])[ids[0]] == Decimal("99.1000")
    assert _ids(store, LAYOUT.tables) == sorted(set(ids[:9]) - {ids[1]})
    assert _ids(store, LAYOUT.quarantine) == [ids[1]]


def test_large_files_are_left_alone_and_zero_turns_compaction_off(tmp_path):
    store = LocalObjectStore(tmp_path)
    never = DeltaTableWriter(store, LAYOUT, compact_at_small_files=0)
    for k in range(5):
        assert never.commit([table_row(f"{k:016x}", "1", NOW)]).compacted == {}
    assert _data_files(tmp_path) == 5
    # every file counts as large under a 1-byte bound: nothing is small, nothing to compact
    large = DeltaTableWriter(store, LAYOUT, compact_at_small_files=2, small_file_bytes=1)
    assert large.commit([table_row(f"{9:016x}", "1", NOW)]).compacted == {}
    assert _data_files(tmp_path) == 6


def test_a_compaction_that_fails_leaves_the_committed_rows_and_says_why(tmp_path, monkeypatch):
    """The storage failing at the compaction's moment cannot be produced on a local folder as root,
    so Delta's optimize is made to raise; the commit before it is real."""
    from deltalake.table import TableOptimizer

    def disk_full(self, *args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(TableOptimizer, "compact", disk_full)
    store = LocalObjectStore(tmp_path)
    writer = DeltaTableWriter(store, LAYOUT, compact_at_small_files=2)
    writer.commit([table_row("a" * 16, "1", NOW)])
    report = writer.commit([table_row("b" * 16, "2", NOW)])
    uri = writer.location(LAYOUT.tables, SCHEMA.name).uri
    assert report.compacted == {} and "No space left on device" in report.compaction_errors[uri]
    assert uri in report.versions and _ids(store, LAYOUT.tables) == ["a" * 16, "b" * 16]
