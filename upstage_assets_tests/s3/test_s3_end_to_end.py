"""End to end with the inbox and the outputs both on S3 (a moto server on loopback).

Documents are uploaded to ``s3://bucket/inbox/<schema>/``, the real ``new_s3_documents``
sensor ticks, its batched runs execute in process on a temporary instance with the local
engine, and the Parquet tables are read back from ``s3://bucket/outputs`` with pyarrow and
pandas and compared with the samples' truth. Five more uploads later, only those five run.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterEventType, EventRecordsFilter

from upstage_assets.definitions import build_definitions
from upstage_assets.ingest.naming import document_id_for_bytes
from upstage_assets.operations.evaluation import values_match
from upstage_assets.samples import generate_samples
from upstage_assets.settings import Settings
from upstage_assets.storage.s3_dataset import read_output_tables_from_s3, s3_dataset
from upstage_assets_tests.s3.conftest import Ticker

FIRST_BATCH_PDFS = 18
FIRST_BATCH_IMAGES = 2  # OCR is slow on two cores: the bulk are born-digital PDFs
SECOND_BATCH = 5


def run_until_idle(ticker: Ticker, job, instance) -> int:
    """Tick, execute every requested run with its tags, until a tick requests nothing; return the runs."""
    runs = 0
    for _ in range(10):
        data = ticker.tick()
        if not data.run_requests:
            return runs
        for request in data.run_requests:
            result = job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)
            assert result.success, [e.message for e in result.all_events if e.is_failure]
            runs += 1
    raise AssertionError("the sensor never went idle")


def materialized_counts(instance) -> dict[str, int]:
    records = instance.get_event_records(EventRecordsFilter(
        event_type=DagsterEventType.ASSET_MATERIALIZATION, asset_key=AssetKey("validated_documents")))
    counts: dict[str, int] = {}
    for record in records:
        partition = record.event_log_entry.dagster_event.partition
        counts[partition] = counts.get(partition, 0) + 1
    return counts


def mismatches(rows: dict[str, dict], samples) -> list[tuple]:
    wrong = []
    for sample in samples:
        row = rows[document_id_for_bytes(sample.path.read_bytes())]
        assert row["schema_name"] == sample.schema and row["backend"] == "local"
        for name in sample.printed:  # the fields visible on the page (the truth also knows hidden ones)
            expected = sample.fields[name]
            if not isinstance(expected, list) and not values_match(row.get(name), expected):
                wrong.append((sample.path.name, name, row.get(name), expected))
    return wrong


@pytest.mark.slow
def test_documents_uploaded_to_s3_come_back_as_parquet_on_s3(bucket, dagster_instance, monkeypatch, tmp_path):
    samples = generate_samples(tmp_path / "samples", seed=11, invoices=12, receipts=11)
    pdfs = [s for s in samples if s.path.suffix == ".pdf"]
    images = [s for s in samples if s.path.suffix != ".pdf"]
    first = pdfs[:FIRST_BATCH_PDFS] + images[:FIRST_BATCH_IMAGES]
    second = pdfs[FIRST_BATCH_PDFS:FIRST_BATCH_PDFS + SECOND_BATCH]
    assert len(first) == 20 and len(second) == 5

    monkeypatch.setenv("UPSTAGE_ASSETS_INBOX", f"s3://{bucket.name}/inbox")
    monkeypatch.setenv("UPSTAGE_ASSETS_OUTPUT", f"s3://{bucket.name}/outputs")
    monkeypatch.setenv("UPSTAGE_ASSETS_S3_ENDPOINT_URL", bucket.endpoint)
    defs = build_definitions(Settings.from_env(backend="local"))
    storage = defs.resources["storage"]
    job = defs.resolve_job_def("process_documents")
    ticker = Ticker(defs.resolve_sensor_def("new_s3_documents"), dagster_instance, storage)

    for sample in first:
        bucket.put(f"inbox/{sample.schema}/{sample.path.name}", sample.path.read_bytes())
    assert run_until_idle(ticker, job, dagster_instance) == 1, "twenty documents, one batched run"

    first_ids = {document_id_for_bytes(s.path.read_bytes()) for s in first}
    tables = read_output_tables_from_s3(f"s3://{bucket.name}/outputs", endpoint_url=bucket.endpoint)
    rows = {r["document_id"]: r for table in tables.values() for r in table.to_pylist()}
    assert set(rows) == first_ids, "one row per uploaded document, none missing, none extra"
    assert all(r["source_uri"].startswith(f"s3://{bucket.name}/inbox/") for r in rows.values())
    wrong = mismatches(rows, first)  # asserted at the end, after every S3 behaviour is checked

    # pandas reads the same table's current version as a pyarrow dataset.
    frame = s3_dataset(f"s3://{bucket.name}/outputs/tables/invoice", endpoint_url=bucket.endpoint).to_table().to_pandas()
    assert set(frame["document_id"]) == {i for i, r in rows.items() if r["schema_name"] == "invoice"}

    for sample in second:
        bucket.put(f"inbox/{sample.schema}/more/{sample.path.name}", sample.path.read_bytes())
    bucket.put("inbox/invoice/duplicate-of-first.pdf", first[0].path.read_bytes())
    assert run_until_idle(ticker, job, dagster_instance) == 1

    second_ids = {document_id_for_bytes(s.path.read_bytes()) for s in second}
    counts = materialized_counts(dagster_instance)
    assert set(counts) == first_ids | second_ids
    assert all(n == 1 for n in counts.values()), "only the five new documents ran the second time"
    tables = read_output_tables_from_s3(f"s3://{bucket.name}/outputs", endpoint_url=bucket.endpoint)
    rows = {r["document_id"]: r for table in tables.values() for r in table.to_pylist()}
    assert set(rows) == first_ids | second_ids
    wrong += mismatches(rows, second)
    assert not wrong, f"extracted values differ from the truth: {wrong}"


@pytest.mark.slow
def test_manifest_columns_reach_the_source_metadata_column_on_s3(bucket, dagster_instance, monkeypatch, tmp_path):
    [sample] = [s for s in generate_samples(tmp_path / "one", seed=5, invoices=1, receipts=0)
                if s.path.suffix == ".pdf"]
    bucket.put("archive/2024/doc.pdf", sample.path.read_bytes())
    buffer = io.BytesIO()
    pq.write_table(pa.table({"uri": [f"s3://{bucket.name}/archive/2024/doc.pdf"], "customer_id": ["C-42"]}), buffer)
    bucket.put("inbox/_manifests/archive.parquet", buffer.getvalue())
    monkeypatch.setenv("UPSTAGE_ASSETS_INBOX", f"s3://{bucket.name}/inbox")
    monkeypatch.setenv("UPSTAGE_ASSETS_OUTPUT", f"s3://{bucket.name}/outputs")
    monkeypatch.setenv("UPSTAGE_ASSETS_S3_ENDPOINT_URL", bucket.endpoint)
    defs = build_definitions(Settings.from_env(backend="local"))
    ticker = Ticker(defs.resolve_sensor_def("new_manifests"), dagster_instance, defs.resources["storage"])
    run_until_idle(ticker, defs.resolve_job_def("process_documents"), dagster_instance)

    [row] = read_output_tables_from_s3(f"s3://{bucket.name}/outputs", endpoint_url=bucket.endpoint)["invoice"].to_pylist()
    assert row["document_id"] == document_id_for_bytes(sample.path.read_bytes())
    assert dict(row["source_metadata"]) == {"customer_id": "C-42"}
    assert row["source_uri"] == f"s3://{bucket.name}/archive/2024/doc.pdf"
