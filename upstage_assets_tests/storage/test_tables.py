"""The one table reader: every reader sees one current row per document, quarantined ones removed."""

from datetime import UTC, datetime, timedelta

from dagster import StaticPartitionsDefinition, build_input_context

from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
from upstage_assets.exporters.base import ExportSource
from upstage_assets.operations.compaction import compact_tables
from upstage_assets.operations.reporting import read_tables as reporting_tables
from upstage_assets.resources.io_managers import ParquetTableIOManager
from upstage_assets.resources.storage import StorageResource
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets_tests.storage.rows import LAYOUT, SCHEMA, row_bytes


def _compacted_then_quarantined(root):
    """Four documents compacted into a part, then one re-run and quarantined, one re-run with a new value."""
    store = LocalObjectStore(root)
    ids = [f"{i:016x}" for i in range(4)]
    for document_id in ids:
        store.write_bytes(*row_bytes(document_id, 10.0, datetime.now(UTC) - timedelta(hours=1)))
    compact_tables(store, LAYOUT)
    store.write_bytes(*row_bytes(ids[0], 0.0, datetime.now(UTC), quarantine=True))
    store.write_bytes(*row_bytes(ids[1], 99.0, datetime.now(UTC)))
    return store, ids


def _rows(table):
    return {r["document_id"]: r["amount"] for r in table.to_pylist()}


def test_the_io_manager_drops_a_compacted_row_quarantined_later(tmp_path):
    """Bug 2: load_input used to return the quarantined document as validated."""
    store, ids = _compacted_then_quarantined(tmp_path)
    manager = ParquetTableIOManager(storage=StorageResource(output_root=str(tmp_path), inbox=str(tmp_path / "in")))
    whole = manager.load_input(build_input_context(asset_key=VALIDATED_DOCUMENTS))[SCHEMA.name]
    assert _rows(whole) == {ids[1]: 99.0, ids[2]: 10.0, ids[3]: 10.0}
    some = manager.load_input(build_input_context(
        asset_key=VALIDATED_DOCUMENTS, partition_key=ids[0], asset_partitions_def=StaticPartitionsDefinition(ids)))
    assert some.get(SCHEMA.name) is None or some[SCHEMA.name].num_rows == 0


def test_every_reader_agrees(tmp_path):
    """Bug 3: exporters, reporting and the IO manager read the same rows (one reader)."""
    store, ids = _compacted_then_quarantined(tmp_path)
    expected = {ids[1]: 99.0, ids[2]: 10.0, ids[3]: 10.0}
    assert _rows(ExportSource(store, LAYOUT, lambda uri: b"").tables()[SCHEMA.name]) == expected
    assert _rows(reporting_tables(tmp_path)[SCHEMA.name]) == expected
    assert [r["document_id"] for r in reporting_tables(tmp_path, "quarantine")[SCHEMA.name].to_pylist()] == [ids[0]]
