"""``new_s3_documents`` as the daemon runs it: partitions, batched runs, cursor, failures."""

from __future__ import annotations

import pytest

from upstage_assets.dagster_compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from upstage_assets.definitions import build_definitions
from upstage_assets.defs.sensors.s3 import build_s3_documents_sensor
from upstage_assets.ingest.naming import document_id_for_bytes
from upstage_assets.settings import Settings
from upstage_assets.storage.failures import read_failures
from upstage_assets_tests.s3.conftest import Ticker


def doc(n: int) -> bytes:
    return b"%PDF-1.4 sensor test " + str(n).encode() + b"\n%%EOF\n"


def test_new_objects_become_partitions_and_runs_of_many_documents(bucket, dagster_instance):
    for n in range(7):
        bucket.put(f"inbox/invoice/i{n}.pdf", doc(n))
    bucket.put("inbox/empty.pdf", b"")
    sensor = build_s3_documents_sensor(Settings(), documents_per_run=3)
    ticker = Ticker(sensor, dagster_instance, bucket.storage())

    first = ticker.tick()
    partitions = dagster_instance.get_dynamic_partitions("documents")
    assert set(partitions) == {document_id_for_bytes(doc(n)) for n in range(7)}
    assert [r.tags["upstage_assets/documents"] for r in first.run_requests] == ["3", "3", "1"]
    ranges = [(r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG])
              for r in first.run_requests]
    assert ranges == [(partitions[0], partitions[2]), (partitions[3], partitions[5]), (partitions[6], partitions[6])]
    assert all(r.run_key and r.run_key.startswith("s3:") for r in first.run_requests)
    failures = read_failures(ticker.storage.output_store(), ticker.storage.layout)
    assert failures.column("source_uri").to_pylist() == [f"s3://{bucket.name}/inbox/empty.pdf"]

    idle = ticker.tick()
    assert not idle.run_requests and "no new documents" in idle.skip_message
    assert idle.cursor, "the cursor is kept on idle ticks too"

    bucket.put("inbox/again/copy.pdf", doc(3))
    bucket.put("inbox/invoice/i0.pdf", doc(50))
    third = ticker.tick()
    assert len(third.run_requests) == 1 and third.run_requests[0].tags["upstage_assets/documents"] == "1"
    assert len(dagster_instance.get_dynamic_partitions("documents")) == 8


@pytest.mark.slow
def test_ten_budgeted_ticks_register_everything_exactly_once(bucket, dagster_instance):
    from upstage_assets.ingest.s3_scan import S3ScanLimits

    for n in range(25):
        bucket.put(f"inbox/b{n:02d}.pdf", doc(n))
    sensor = build_s3_documents_sensor(Settings(), limits=S3ScanLimits(max_documents=4, workers=2, time_budget_s=300.0))
    ticker = Ticker(sensor, dagster_instance, bucket.storage())
    requested = 0
    for _ in range(10):
        data = ticker.tick()
        requested += sum(int(r.tags["upstage_assets/documents"]) for r in data.run_requests)
    assert requested == 25
    assert sorted(dagster_instance.get_dynamic_partitions("documents")) == \
        sorted(document_id_for_bytes(doc(n)) for n in range(25))


def test_the_sensor_skips_a_local_inbox_and_is_in_the_definitions(tmp_path, dagster_instance):
    from upstage_assets.resources.storage import StorageResource

    storage = StorageResource(output_root=str(tmp_path / "out"), inbox=str(tmp_path / "inbox"))
    data = Ticker(build_s3_documents_sensor(Settings()), dagster_instance, storage).tick()
    assert not data.run_requests and "not an s3:// prefix" in data.skip_message
    defs = build_definitions(Settings.from_env(backend="local"))
    assert defs.resolve_sensor_def("new_s3_documents").job_name == "process_documents"


@pytest.mark.slow
def test_process_inbox_once_follows_the_s3_cursor_across_budgeted_ticks(bucket, dagster_instance):
    from dagster import Definitions

    from upstage_assets.ingest.s3_scan import S3ScanLimits
    from upstage_assets.operations.runner import process_inbox_once

    for n in range(5):
        bucket.put(f"inbox/c{n}.pdf", b"not really a pdf " + str(n).encode())  # refused at raw_documents (unknown type), fast
    full = build_definitions(Settings.from_env(backend="local"))
    storage = bucket.storage()
    defs = Definitions(assets=list(full.assets or []), jobs=list(full.jobs or []),
                       sensors=[build_s3_documents_sensor(Settings(), limits=S3ScanLimits(max_documents=2, time_budget_s=300.0))],
                       resources={**full.resources, "storage": storage})
    report = process_inbox_once(None, instance=dagster_instance, defs=defs)
    assert len(report.runs) == 3, "2 + 2 + 1 documents, one run per tick"
    assert len(dagster_instance.get_dynamic_partitions("documents")) == 5
    failures = read_failures(storage.output_store(), storage.layout).to_pylist()
    assert sorted(f["error_code"] for f in failures) == ["unsupported_type"] * 5
    assert all(f["source_uri"].startswith(f"s3://{bucket.name}/inbox/") for f in failures)


def test_a_tick_looks_up_only_the_ids_it_read_never_every_partition(bucket, dagster_instance, monkeypatch):
    """The cost of a tick follows the new documents: no full partition load (issue 16)."""
    dagster_instance.add_dynamic_partitions("documents", [f"known-{n:05d}" for n in range(2000)])
    for n in range(3):
        bucket.put(f"inbox/n{n}.pdf", doc(n))
    asked: list[str] = []
    real = dagster_instance.has_dynamic_partition

    def has_dynamic_partition(name: str, key: str) -> bool:
        asked.append(key)
        return real(name, key)

    def every_partition(*_args, **_kwargs):
        raise AssertionError("a tick must not load every partition")

    monkeypatch.setattr(dagster_instance, "has_dynamic_partition", has_dynamic_partition)
    monkeypatch.setattr(dagster_instance, "get_dynamic_partitions", every_partition)
    data = Ticker(build_s3_documents_sensor(Settings()), dagster_instance, bucket.storage()).tick(apply=False)
    assert sorted(asked) == sorted(document_id_for_bytes(doc(n)) for n in range(3))
    assert sum(int(r.tags["upstage_assets/documents"]) for r in data.run_requests) == 3
