"""stages_to_skip: which leading stages a resumed document keeps, and where a failure forces a redo."""

from __future__ import annotations

from dagster import AssetMaterialization, DagsterInstance

from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS, KIE_FIELDS, PARSED_LAYOUTS, RAW_DOCUMENTS
from upstage_assets.defs.pipeline.resume import (
    ONLY_DOCUMENTS_TAG,
    RESUME_TAG,
    documents_wanted,
    stages_to_skip,
)
from upstage_assets.errors import ExtractionFailed
from upstage_assets.storage.failures import record_failure
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore


def _materialize(instance: DagsterInstance, document_id: str, *asset_keys) -> None:
    for asset_key in asset_keys:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=asset_key, partition=document_id))


def test_resume_keeps_finished_leading_stages_and_redoes_from_the_failed_one(tmp_path):
    store, layout = LocalObjectStore(str(tmp_path)), OutputLayout()
    with DagsterInstance.ephemeral() as instance:
        _materialize(instance, "parsed", RAW_DOCUMENTS, PARSED_LAYOUTS)
        _materialize(instance, "holey", RAW_DOCUMENTS, KIE_FIELDS)  # parse missing: kie must be redone too
        _materialize(instance, "failed_kie", RAW_DOCUMENTS, PARSED_LAYOUTS, KIE_FIELDS)
        record_failure(store, layout, document_id="failed_kie", source_uri=None, stage="kie_fields",
                       error=ExtractionFailed("bad response"), run_id="r")
        keys = ["parsed", "holey", "failed_kie", "new"]

        skips = stages_to_skip(instance, {RESUME_TAG: "true"}, keys, DOCUMENT_ASSET_KEYS, store, layout)
        assert skips == {"parsed": {RAW_DOCUMENTS, PARSED_LAYOUTS}, "holey": {RAW_DOCUMENTS},
                         "failed_kie": {RAW_DOCUMENTS, PARSED_LAYOUTS}, "new": set()}
        assert stages_to_skip(instance, {}, keys, DOCUMENT_ASSET_KEYS, store, layout) == {}, "only when resuming"


def test_a_recovery_run_processes_only_its_listed_documents():
    keys = ["a", "b", "c", "d"]
    assert documents_wanted({ONLY_DOCUMENTS_TAG: "d,b"}, keys) == ["b", "d"]
    assert documents_wanted({}, keys) == keys
