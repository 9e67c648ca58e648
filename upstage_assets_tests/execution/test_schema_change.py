"""A schema edit makes exactly its documents stale; re-running them keeps their parse."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from dagster import AssetRecordsFilter, DagsterRunStatus

from upstage_assets.dagster_compat import DATA_VERSION_TAG
from upstage_assets.definitions import build_definitions
from upstage_assets.defs.pipeline.keys import KIE_FIELDS, PARSED_LAYOUTS, RAW_DOCUMENTS, VALIDATED_DOCUMENTS
from upstage_assets.operations.backlog import stale_documents
from upstage_assets.operations.recovery import SCHEMA_STAGES
from upstage_assets.schemas.extraction import load_schema
from upstage_assets.settings import Settings
from upstage_assets_tests.execution.documents import (
    materialization_counts,
    parquet_rows_by_document,
    register_documents,
    write_invoices,
)
from upstage_assets_tests.launching import launch_batched_runs


@pytest.mark.slow
def test_editing_a_schema_marks_only_its_documents_stale(tmp_path, data_root, dagster_instance):
    schema_file = tmp_path / "invoice_custom.json"
    custom = json.loads(resources.files("upstage_assets.schemas").joinpath("invoice.json").read_text())
    custom["json_schema"]["name"] = "invoice_custom"
    schema_file.write_text(json.dumps(custom))
    write_invoices(data_root / "inbox" / "custom", 3, seed=21)
    write_invoices(data_root / "inbox" / "builtin", 2, seed=22)
    custom_keys = register_documents(data_root / "inbox" / "custom", data_root / "outputs", dagster_instance,
                                     schema=str(schema_file))
    builtin_keys = register_documents(data_root / "inbox" / "builtin", data_root / "outputs", dagster_instance)
    keys = custom_keys + builtin_keys
    defs = build_definitions(Settings.from_env(backend="local"))
    storage = defs.resources["storage"]
    assert len(launch_batched_runs(dagster_instance, keys, 50, defs=defs)) == 1
    assert stale_documents(dagster_instance, storage) == []

    custom["json_schema"]["schema"]["properties"]["purchase_order"] = {
        "type": "string", "description": "The buyer's purchase order number"}
    schema_file.write_text(json.dumps(custom))
    new_version = load_schema(str(schema_file)).version

    stale = stale_documents(dagster_instance, storage)
    assert stale == custom_keys, "only the documents of the edited schema"
    run_ids = launch_batched_runs(dagster_instance, stale, 50, defs=defs, asset_selection=SCHEMA_STAGES,
                                  resume=False, reason="schema changed")
    assert [dagster_instance.get_run_by_id(r).status for r in run_ids] == [DagsterRunStatus.SUCCESS]

    assert stale_documents(dagster_instance, storage) == []
    for asset_key, expected in ((RAW_DOCUMENTS, 1), (PARSED_LAYOUTS, 1), (KIE_FIELDS, 2), (VALIDATED_DOCUMENTS, 2)):
        counts = materialization_counts(dagster_instance, asset_key, keys)
        assert [counts[k] for k in custom_keys] == [expected] * 3, asset_key
        assert [counts[k] for k in builtin_keys] == [1] * 2, asset_key
    latest = dagster_instance.fetch_materializations(AssetRecordsFilter(asset_key=KIE_FIELDS), limit=3).records
    assert {r.partition_key for r in latest} == set(custom_keys)
    assert all(r.event_log_entry.tags[DATA_VERSION_TAG].endswith(f"-schema-{new_version}") for r in latest)
    assert parquet_rows_by_document(data_root / "outputs") == dict.fromkeys(keys, 1)
