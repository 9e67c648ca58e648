"""The pipeline step commits rows in batches and logs each materialization after its commit."""

from __future__ import annotations

import pytest
from dagster import AssetRecordsFilter

from upstage_assets.definitions import build_definitions
from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
from upstage_assets.settings import Settings
from upstage_assets.storage.delta import TableLocation
from upstage_assets.storage.tables import open_delta
from upstage_assets_tests.execution.documents import register_documents, write_invoices
from upstage_assets_tests.launching import launch_batched_runs

pytestmark = pytest.mark.slow


def _value(entry):
    return getattr(entry, "value", entry)


def test_each_validated_materialization_names_a_version_that_holds_its_row(data_root, dagster_instance):
    write_invoices(data_root / "inbox", 10, seed=5)
    keys = register_documents(data_root / "inbox", data_root / "outputs", dagster_instance)
    config = {"ops": {"document_pipeline": {"config": {"table_commit_every": 4}}}}
    (run_id,) = launch_batched_runs(dagster_instance, keys, 10, run_config=config,
                                    defs=build_definitions(Settings.from_env(backend="local")))
    assert dagster_instance.get_run_by_id(run_id).is_success
    records = dagster_instance.fetch_materializations(AssetRecordsFilter(asset_key=VALIDATED_DOCUMENTS),
                                                      limit=100).records
    assert sorted(r.partition_key for r in records) == sorted(keys)
    versions = set()
    for record in records:
        metadata = record.asset_materialization.metadata
        area = "quarantine" if _value(metadata["status"]) == "quarantined" else "tables"
        version = int(_value(metadata["delta_version"]))
        versions.add(version)
        table = open_delta(TableLocation(str(data_root / "outputs" / area / "invoice")), version=version)
        assert record.partition_key in table.to_pyarrow_table(columns=["document_id"]).column(
            "document_id").to_pylist(), "logged only after the commit that holds the row"
        columns = {c.name: c for c in _value(metadata["dagster/column_schema"]).columns}
        if area == "tables":
            assert columns["amount"].type == "decimal128(18, 4)"
            assert "grand total" in (columns["amount"].description or "")
            assert columns["document_id"].constraints.unique
    assert len(versions) >= 3, "10 documents, a commit every 4: at least three commits"
