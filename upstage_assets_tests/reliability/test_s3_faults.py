"""S3 that throttles, errors after committing, resets connections and cuts bodies short.

A real S3 API (moto server) behind a loopback fault proxy: retries carry every write and
read through, and no object is ever half-written or read half.
"""

from __future__ import annotations

import hashlib

import pytest
from dagster_aws.s3 import S3Resource

from upstage_assets.settings import Settings
from upstage_assets.storage.object_store import S3ObjectStore
from upstage_assets_tests.reliability.fault_proxy import FaultProxy
from upstage_assets_tests.reliability.leaks import captured_logs, leaks_in_events, leaks_in_files
from upstage_assets_tests.reliability.secrets import SENTINELS, sentinel_environment


def _payload(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (64 + i * 7)  # 2 KiB .. 30 KiB, distinct


def test_object_store_writes_and_reads_survive_s3_faults_and_nothing_is_half_written(bucket):
    with FaultProxy(bucket.endpoint, rate=0.3, seed=5) as proxy:
        client = S3Resource(endpoint_url=proxy.url, region_name="us-east-1", max_attempts=8).get_client()
        store = S3ObjectStore(f"s3://{bucket.name}/outputs", client)
        for i in range(40):
            store.write_bytes(f"parsed/doc-{i:03d}.json", _payload(i))
        read_back = {i: store.read_bytes(f"parsed/doc-{i:03d}.json") for i in range(40)}
        listed = sorted(info.key for info in store.list("parsed"))

    assert sum(proxy.injected.values()) >= 10 and set(proxy.injected) == {
        "slow_down", "error_after_commit", "reset", "truncated_body"}, proxy.injected
    assert all(read_back[i] == _payload(i) for i in range(40)), "every read returns the whole object"
    assert listed == [f"parsed/doc-{i:03d}.json" for i in range(40)]
    for i in range(40):  # straight from S3, not through the proxy: complete objects only
        body = bucket.client.get_object(Bucket=bucket.name, Key=f"outputs/parsed/doc-{i:03d}.json")["Body"].read()
        assert body == _payload(i)


@pytest.mark.slow
def test_the_pipeline_on_flaky_s3_materializes_every_document_once(bucket, data_root, dagster_instance, tmp_path):
    from dagster import materialize

    from upstage_assets.defs.pipeline.document_pipeline import build_document_pipeline
    from upstage_assets.defs.pipeline.keys import PARSED_LAYOUTS, RAW_DOCUMENTS
    from upstage_assets.defs.resources import build_resources
    from upstage_assets.ingest.folder import register_objects
    from upstage_assets.storage.failures import read_failures
    from upstage_assets_tests.reliability.bad_inputs import pdf_bytes

    for i in range(8):
        bucket.put(f"inbox/invoice-{i}.pdf", pdf_bytes(text=f"Invoice No: S3-{i:04d}  Total: {i}.00 USD"))
    with sentinel_environment(), captured_logs(tmp_path / "captured.log"), \
            FaultProxy(bucket.endpoint, rate=0.15, seed=9) as proxy:
        storage = bucket.storage()
        storage = storage.model_copy(update={"s3": S3Resource(endpoint_url=proxy.url, region_name="us-east-1",
                                                              max_attempts=8)})
        inbox = storage.inbox_store()
        registered = register_objects(inbox, storage.registry(), list(inbox.list()), default_schema="invoice")
        keys = registered.new_ids
        dagster_instance.add_dynamic_partitions("documents", keys)
        resources = {**build_resources(Settings.from_env(backend="local")), "storage": storage}
        from upstage_assets.resources.io_managers import DocumentJsonIOManager, ParquetTableIOManager

        resources["document_json_io_manager"] = DocumentJsonIOManager(storage=storage)
        resources["parquet_table_io_manager"] = ParquetTableIOManager(storage=storage)
        result = materialize([build_document_pipeline(Settings())], selection=[RAW_DOCUMENTS, PARSED_LAYOUTS],
                             instance=dagster_instance, resources=resources, raise_on_error=False,
                             tags={"dagster/asset_partition_range_start": keys[0],
                                   "dagster/asset_partition_range_end": keys[-1]})
        failures = read_failures(storage.output_store(), storage.layout).to_pylist()

    assert len(keys) == 8 and sum(proxy.injected.values()) > 0
    assert result.success, failures
    assert failures == []
    for asset in (RAW_DOCUMENTS, PARSED_LAYOUTS):
        assert dagster_instance.get_materialized_partitions(asset) == set(keys)
    import json

    downloaded = tmp_path / "downloaded"
    for key in bucket.keys("outputs/"):
        body = bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read()
        if key.endswith(".json"):
            json.loads(body)
        (downloaded / key).parent.mkdir(parents=True, exist_ok=True)
        (downloaded / key).write_bytes(body)
    # the sentinel AWS credentials signed every request; none of them is written anywhere
    assert leaks_in_files(SENTINELS, [tmp_path]) == []
    assert leaks_in_events(SENTINELS, dagster_instance) == []
