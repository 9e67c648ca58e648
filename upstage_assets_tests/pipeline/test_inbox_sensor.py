"""The inbox sensor: new files become partitions and batched runs; the same bytes never twice."""

import shutil

from upstage_assets.dagster_compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from upstage_assets.defs.sensors.inbox import build_inbox_sensor
from upstage_assets.ingest.naming import document_id_for_bytes
from upstage_assets.operations.runner import tick_sensor
from upstage_assets.resources.storage import StorageResource
from upstage_assets.settings import Settings


def tick(instance, storage):
    return tick_sensor(build_inbox_sensor(Settings()), instance, storage)


def test_new_files_register_partitions_and_request_batched_runs(data_root, sample_documents, dagster_instance):
    storage = StorageResource(output_root=str(data_root / "outputs"), inbox=str(data_root / "inbox"))
    for sample in sample_documents:
        target = data_root / "inbox" / sample.schema / sample.path.name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(sample.path, target)
    (data_root / "inbox" / "notes.txt").write_text("not a document")
    (data_root / "inbox" / "empty.pdf").write_bytes(b"")

    first = tick(dagster_instance, storage)
    expected_ids = {document_id_for_bytes(s.path.read_bytes()) for s in sample_documents}
    added = set(dagster_instance.get_dynamic_partitions("documents"))
    assert added == expected_ids
    assert len(first.run_requests) == 1  # all of them in one batched run, not one run per document
    tags = first.run_requests[0].tags
    partitions = dagster_instance.get_dynamic_partitions("documents")
    assert (tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]) == (partitions[0], partitions[-1])
    registry = storage.registry()
    record = registry.get(next(iter(expected_ids)))
    assert record is not None and record.schema in ("invoice", "receipt")

    # Nothing changed: no new work.
    second = tick(dagster_instance, storage)
    assert not second.run_requests and "no new documents" in second.skip_message

    # The same bytes under another name: still no new work.
    copy = data_root / "inbox" / "copy-of-first.pdf"
    shutil.copyfile(sample_documents[0].path, copy)
    third = tick(dagster_instance, storage)
    assert not third.run_requests
    assert set(dagster_instance.get_dynamic_partitions("documents")) == expected_ids

    # Overwriting a file with new bytes is a new document.
    copy.write_bytes(sample_documents[1].path.read_bytes() + b"\n% edited\n")
    fourth = tick(dagster_instance, storage)
    assert len(fourth.run_requests) == 1
    assert len(dagster_instance.get_dynamic_partitions("documents")) == len(expected_ids) + 1
