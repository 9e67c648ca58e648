"""The IO managers on an s3:// output root: whole objects, paths and sizes, no escaping the root."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from dagster import AssetIn, StaticPartitionsDefinition, asset, materialize

from upstage_assets.resources.io_managers import DocumentJsonIOManager, ParquetTableIOManager
from upstage_assets.storage.object_store import UnsafeKeyError
from upstage_assets.storage.s3_dataset import read_table_from_s3

PARTS = StaticPartitionsDefinition(["doc1", "doc2"])


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("cannot serialise")


def resources(storage):
    return {"json_io": DocumentJsonIOManager(storage=storage), "parquet_io": ParquetTableIOManager(storage=storage)}


def test_json_outputs_land_whole_under_the_root_with_path_and_size_in_metadata(bucket):
    storage = bucket.storage()

    @asset(partitions_def=PARTS, io_manager_key="json_io")
    def parsed_things(context):
        return {context.partition_key: {"text": "영수증 total 12.50", "partition": context.partition_key}}

    @asset(partitions_def=PARTS, io_manager_key="json_io", ins={"parsed_things": AssetIn()})
    def echo(context, parsed_things):
        return {context.partition_key: parsed_things}

    result = materialize([parsed_things, echo], partition_key="doc1", resources=resources(storage))
    assert result.success
    metadata = result.asset_materializations_for_node("parsed_things")[0].metadata
    expected = json.dumps({"text": "영수증 total 12.50", "partition": "doc1"}, ensure_ascii=False).encode()
    assert metadata["first_path"].value == f"s3://{bucket.name}/outputs/parsed_things/doc1.json"
    assert metadata["bytes"].value == len(expected)
    assert bucket.client.get_object(Bucket=bucket.name, Key="outputs/parsed_things/doc1.json")["Body"].read() == expected
    echoed = json.loads(bucket.client.get_object(Bucket=bucket.name, Key="outputs/echo/doc1.json")["Body"].read())
    assert echoed == {"doc1": {"text": "영수증 total 12.50", "partition": "doc1"}}


def test_a_failed_serialisation_leaves_the_previous_object_untouched(bucket):
    storage = bucket.storage()
    bucket.put("outputs/fragile/doc2.json", b'{"old": true}')

    @asset(partitions_def=PARTS, io_manager_key="json_io")
    def fragile(context):
        return {context.partition_key: {"value": Unprintable()}}

    result = materialize([fragile], partition_key="doc2", resources=resources(storage), raise_on_error=False)
    assert not result.success
    assert bucket.client.get_object(Bucket=bucket.name, Key="outputs/fragile/doc2.json")["Body"].read() == \
        b'{"old": true}'


@pytest.mark.parametrize("evil", ["../../escaped", "../registry/overwritten", "/absolute", ".."])
def test_keys_that_would_escape_the_root_are_refused(bucket, evil):
    storage = bucket.storage()

    @asset(partitions_def=PARTS, io_manager_key="json_io")
    def sneaky(context):
        return {evil: {"x": 1}}

    with pytest.raises(UnsafeKeyError):
        materialize([sneaky], partition_key="doc1", resources=resources(storage))
    assert bucket.keys() == [], "nothing written, inside the root or out"


def test_parquet_tables_are_written_once_and_read_back_with_pyarrow_from_s3(bucket):
    storage = bucket.storage()
    table = pa.table({"document_id": ["a", "b"], "total": [1.5, 2.25]})

    @asset(io_manager_key="parquet_io")
    def summary_table():
        return table

    result = materialize([summary_table], resources=resources(storage))
    metadata = result.asset_materializations_for_node("summary_table")[0].metadata
    assert metadata["path"].value == f"s3://{bucket.name}/outputs/summary_table.parquet"
    head = bucket.client.head_object(Bucket=bucket.name, Key="outputs/summary_table.parquet")
    assert metadata["bytes"].value == head["ContentLength"] and metadata["rows"].value == 2
    read = read_table_from_s3(f"s3://{bucket.name}/outputs/summary_table.parquet", endpoint_url=bucket.endpoint)
    assert read.equals(table)

    @asset(io_manager_key="parquet_io")
    def not_a_table():
        return {"rows": [1]}

    assert not materialize([not_a_table], resources=resources(storage), raise_on_error=False).success
    assert "outputs/not_a_table.parquet" not in bucket.keys()


def test_delta_tables_read_back_as_one_table_per_schema(bucket):
    from datetime import UTC, datetime

    from upstage_assets.storage.layout import OutputLayout
    from upstage_assets.storage.s3_dataset import read_output_tables_from_s3
    from upstage_assets.storage.table_writer import DeltaTableWriter, TableRow

    root = f"s3://{bucket.name}/outputs"
    assert read_output_tables_from_s3(root, endpoint_url=bucket.endpoint) == {}
    now = datetime.now(UTC)
    rows = [TableRow(document_id, schema, pa.table({"document_id": [document_id], "total": [1.0],
                                                    "processed_at": pa.array([now], pa.timestamp("us", tz="UTC"))}),
                     False)
            for schema, ids in {"invoice": ["a", "b", "c"], "receipt": ["d"]}.items() for document_id in ids]
    DeltaTableWriter(bucket.storage().output_store(), OutputLayout()).commit(rows)
    bucket.put("outputs/tables/empty/", b"")
    tables = read_output_tables_from_s3(root, endpoint_url=bucket.endpoint)
    assert set(tables) == {"invoice", "receipt"}
    assert sorted(tables["invoice"].column("document_id").to_pylist()) == ["a", "b", "c"]
    frame = read_table_from_s3(f"{root}/tables/invoice", endpoint_url=bucket.endpoint).to_pandas()
    assert sorted(frame["document_id"]) == ["a", "b", "c"] and frame["total"].sum() == 3.0
