"""No document key or file name makes the platform write outside its configured output roots."""

from __future__ import annotations

import pytest
from dagster import materialize

from upstage_assets.defs.pipeline.document_pipeline import build_document_pipeline
from upstage_assets.defs.pipeline.keys import RAW_DOCUMENTS
from upstage_assets.defs.resources import build_resources
from upstage_assets.ingest.folder import register_objects
from upstage_assets.settings import Settings
from upstage_assets.storage.object_store import LocalObjectStore, S3ObjectStore, UnsafeKeyError
from upstage_assets_tests.reliability.bad_inputs import pdf_bytes

HOSTILE_KEYS = ["../../escaped", "..", "a/../../../escaped", "/etc/escaped", "..\\..\\escaped", "raw/../../x",
                "nul\x00byte"]


def _files(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_hostile_partition_keys_fail_alone_and_write_nothing_outside_the_output_root(tmp_path, data_root,
                                                                                    dagster_instance):
    inbox = LocalObjectStore(data_root / "inbox")
    inbox.write_bytes("good.pdf", pdf_bytes(text="Invoice No: PT-1"))
    resources = build_resources(Settings.from_env(backend="local"))
    good = register_objects(inbox, resources["storage"].registry(), list(inbox.list()),
                            default_schema="invoice").new_ids
    hostile = [k for k in HOSTILE_KEYS if "\x00" not in k]  # Dagster refuses NUL in partition keys itself
    dagster_instance.add_dynamic_partitions("documents", [*hostile, *good])
    before = _files(tmp_path)

    result = materialize([build_document_pipeline(Settings())], selection=[RAW_DOCUMENTS], instance=dagster_instance,
                         resources=resources, raise_on_error=False,
                         tags={"dagster/asset_partition_range_start": hostile[0],
                               "dagster/asset_partition_range_end": good[0]})

    assert not result.success, "the hostile keys are reported as failed"
    assert dagster_instance.get_materialized_partitions(RAW_DOCUMENTS) == set(good), "the good one is done"
    written = _files(tmp_path) - before
    outside = [f for f in written if not f.startswith(("data/outputs/", "dagster_home/"))]
    assert outside == [], outside
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = str(failure.step_failure_data.user_failure_data.metadata["failures"].value)
    assert all(k in text for k in hostile[:3]) and "unsafe" in text


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_object_stores_refuse_keys_that_climb_out_of_their_root(tmp_path, bucket, key):
    local = LocalObjectStore(tmp_path / "root")
    s3 = S3ObjectStore(f"s3://{bucket.name}/outputs", bucket.client)
    for store in (local, s3):
        with pytest.raises(UnsafeKeyError):
            store.write_bytes(key, b"x")
    assert not (tmp_path / "escaped").exists() and bucket.keys() == []
