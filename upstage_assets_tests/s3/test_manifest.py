"""Manifests (CSV/Parquet, on S3 or local) register documents with their extra columns."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from upstage_assets.defs.sensors.manifests import build_manifest_sensor
from upstage_assets.ingest.manifests import ManifestError, register_manifest
from upstage_assets.ingest.naming import document_id_for_bytes, failure_id_for_source
from upstage_assets.settings import Settings
from upstage_assets.storage.failures import read_failures
from upstage_assets_tests.s3.conftest import Ticker


def doc(n: int) -> bytes:
    return b"%PDF-1.4 manifest test " + str(n).encode() + b"\n%%EOF\n"


def test_a_csv_manifest_on_s3_registers_s3_and_local_documents_with_their_columns(bucket, tmp_path):
    bucket.put("docs/a.pdf", doc(1))
    bucket.put("manifests/sub/b.pdf", doc(2))
    bucket.put("docs/empty.pdf", b"")
    local = tmp_path / "c.pdf"
    local.write_bytes(doc(3))
    manifest = "\n".join([
        "uri,customer_id,schema,batch",
        f"s3://{bucket.name}/docs/a.pdf,C-1,,2024-11",
        "sub/b.pdf,C-2,receipt,",  # relative to the manifest's prefix
        f"{local},C-3,,2024-11",
        f"s3://{bucket.name}/docs/missing.pdf,C-4,,",
        f"s3://{bucket.name}/docs/empty.pdf,C-5,,",
        f"s3://{bucket.name}/docs/a.pdf,C-6,,",  # the same bytes again
        ",C-7,,",
        f"s3://{bucket.name}/docs/a.pdf,C-8,no_such_schema,",
    ]) + "\n"
    bucket.put("manifests/batch.csv", manifest.encode())
    storage = bucket.storage()

    result = register_manifest(f"s3://{bucket.name}/manifests/batch.csv", storage, "invoice")

    assert result.new_ids == [document_id_for_bytes(doc(n)) for n in (1, 2, 3)]
    by_id = {r.document_id: r for r in result.new_records}
    a, b, c = (by_id[document_id_for_bytes(doc(n))] for n in (1, 2, 3))
    assert (a.extra, a.schema, a.source_uri) == ({"customer_id": "C-1", "batch": "2024-11"}, "invoice",
                                                f"s3://{bucket.name}/docs/a.pdf")
    assert (b.extra, b.schema, b.source_uri) == ({"customer_id": "C-2"}, "receipt",
                                                f"s3://{bucket.name}/manifests/sub/b.pdf")
    assert c.source_uri == str(local) and storage.registry().get(c.document_id) == c
    assert result.duplicates == [f"s3://{bucket.name}/docs/a.pdf"]
    reasons = dict(result.skipped)
    assert "NoSuchKey" in reasons[f"s3://{bucket.name}/docs/missing.pdf"]
    assert reasons[f"s3://{bucket.name}/docs/empty.pdf"] == "zero-byte object"
    assert reasons[f"s3://{bucket.name}/docs/a.pdf"] == "unknown schema 'no_such_schema'"
    assert any(reason == "empty URI" for _, reason in result.skipped)
    failures = read_failures(storage.output_store(), storage.layout).column("document_id").to_pylist()
    assert sorted(failures) == sorted(failure_id_for_source(f"s3://{bucket.name}/docs/{name}.pdf")
                                      for name in ("empty", "missing"))  # both recorded, not just skipped

    again = register_manifest(f"s3://{bucket.name}/manifests/batch.csv", storage, "invoice")
    assert again.new_ids == [] and len(again.duplicates) == 4


def test_a_local_parquet_manifest_keeps_typed_columns_as_text(bucket, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.pdf").write_bytes(doc(10))
    table = pa.table({"path": ["docs/x.pdf"], "pages_expected": [3], "tags": [["a", "b"]]})
    pq.write_table(table, tmp_path / "m.parquet")
    result = register_manifest(str(tmp_path / "m.parquet"), bucket.storage(), "invoice")
    [record] = result.new_records
    assert record.source_uri == str(tmp_path / "docs" / "x.pdf")
    assert record.extra == {"pages_expected": "3", "tags": '["a", "b"]'}


def test_an_unusable_manifest_is_one_clear_error(bucket, tmp_path):
    (tmp_path / "bad.csv").write_text("name,customer\nx.pdf,1\n")
    with pytest.raises(ManifestError, match="no URI column"):
        register_manifest(str(tmp_path / "bad.csv"), bucket.storage(), "invoice")
    with pytest.raises(ManifestError, match="cannot read"):
        register_manifest(str(tmp_path / "absent.csv"), bucket.storage(), "invoice")
    (tmp_path / "m.xlsx").write_bytes(b"x")
    with pytest.raises(ManifestError, match="csv or .parquet"):
        register_manifest(str(tmp_path / "m.xlsx"), bucket.storage(), "invoice")


def test_the_manifest_sensor_registers_each_manifest_version_once(bucket, dagster_instance):
    for n in range(3):
        bucket.put(f"elsewhere/d{n}.pdf", doc(20 + n))
    buffer = io.BytesIO()
    pq.write_table(pa.table({"uri": [f"s3://{bucket.name}/elsewhere/d{n}.pdf" for n in range(3)],
                             "batch": ["b1"] * 3}), buffer)
    bucket.put("inbox/_manifests/first.parquet", buffer.getvalue())
    ticker = Ticker(build_manifest_sensor(Settings()), dagster_instance, bucket.storage())

    first = ticker.tick()
    assert sorted(dagster_instance.get_dynamic_partitions("documents")) == \
        sorted(document_id_for_bytes(doc(20 + n)) for n in range(3))
    assert len(first.run_requests) == 1 and first.run_requests[0].tags["upstage_assets/documents"] == "3"
    assert not ticker.tick().run_requests

    bucket.put("inbox/_manifests/first.parquet", buffer.getvalue() + b"")  # same content, re-uploaded
    bucket.put("inbox/_manifests/second.csv", f"uri\ns3://{bucket.name}/elsewhere/d0.pdf\n".encode())
    third = ticker.tick()
    assert not third.run_requests and "no new documents" in third.skip_message
