"""End to end on the embedded default: every sample from the inbox to a Parquet row.

Real Dagster runs on a real (temporary, SQLite) instance, the real inbox sensor, the local
engine; the Parquet table is read back with pyarrow and compared with the samples' truth.
"""

import shutil

import pytest
from dagster import AssetKey

from upstage_assets.definitions import build_definitions
from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS
from upstage_assets.ingest.naming import document_id_for_bytes
from upstage_assets.operations.evaluation import values_match
from upstage_assets.operations.reporting import read_tables
from upstage_assets.operations.runner import process_inbox_once
from upstage_assets.settings import Settings


def fill_inbox(data_root, samples):
    for sample in samples:
        target = data_root / "inbox" / sample.schema / sample.path.name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(sample.path, target)


@pytest.mark.slow
def test_all_samples_reach_the_parquet_table_with_their_true_values(data_root, sample_documents, dagster_instance):
    fill_inbox(data_root, sample_documents)
    report = process_inbox_once(None, instance=dagster_instance, defs=build_definitions(Settings.from_env(backend="local")))

    assert report.runs and all(success for _, success in report.runs), report.runs
    ids = {document_id_for_bytes(s.path.read_bytes()): s for s in sample_documents}
    for key in DOCUMENT_ASSET_KEYS:
        assert dagster_instance.get_materialized_partitions(key) == set(ids), key

    tables = read_tables(data_root / "outputs")
    rows = {r["document_id"]: r for table in tables.values() for r in table.to_pylist()}
    assert set(rows) == set(ids), "one row per sample document, none missing, none extra"
    mismatches = []
    for document_id, sample in ids.items():
        row = rows[document_id]
        assert row["sha256"] and row["backend"] == "local" and row["schema_name"] == sample.schema
        for name in sample.printed:  # the fields visible on the page
            expected = sample.fields[name]
            if not values_match(row.get(name), expected):
                mismatches.append((sample.path.name, name, row.get(name), expected))
    assert not mismatches, mismatches

    event = dagster_instance.get_latest_materialization_event(AssetKey("parsed_layouts"))
    metadata = event.asset_materialization.metadata
    assert {"pages", "elements_by_category", "preview", "path"} <= set(metadata)
