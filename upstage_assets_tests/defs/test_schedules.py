"""Schedules: the nightly retry asks for runs over retryable failures only; compaction merges files."""

from datetime import UTC, datetime

from dagster import DefaultScheduleStatus, build_schedule_context

from upstage_assets.definitions import build_definitions
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.defs.pipeline.resume import RESUME_TAG, documents_wanted
from upstage_assets.defs.schedules import build_schedules, compact_tables_job
from upstage_assets.ingest.folder import register_objects
from upstage_assets.operations.backlog import failed_documents
from upstage_assets.settings import Settings
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets_tests.storage.rows import LAYOUT, SCHEMA


def _failed_documents(data_root, instance, defs):
    """Three documents fail for real: two whose source vanished (retryable), one corrupt (permanent)."""
    inbox = data_root / "inbox"
    for name in ("a.pdf", "b.pdf"):
        (inbox / name).write_bytes(b"%PDF-1.4 vanishing " + name.encode())
    (inbox / "corrupt.pdf").write_bytes(b"%PDF-1.4 not really")
    storage = defs.resources["storage"]
    source = LocalObjectStore(inbox)
    result = register_objects(source, storage.registry(), list(source.list()), default_schema="invoice")
    by_name = {r.filename: r.document_id for r in result.new_records}
    for name in ("a.pdf", "b.pdf"):
        (inbox / name).unlink()
    instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, sorted(by_name.values()))
    keys = instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME)
    run = defs.resolve_job_def("process_documents").execute_in_process(
        instance=instance, raise_on_error=False,
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]})
    assert not run.success
    return by_name, storage


def test_the_nightly_retry_requests_runs_for_retryable_failures_only(data_root, dagster_instance):
    defs = build_definitions(Settings.from_env(backend="local"))
    by_name, storage = _failed_documents(data_root, dagster_instance, defs)
    assert set(failed_documents(storage)) == set(by_name.values())

    with build_schedule_context(instance=dagster_instance, resources={"storage": storage},
                                scheduled_execution_time=datetime(2026, 1, 2, 2, tzinfo=UTC)) as context:
        requests = defs.resolve_schedule_def("reprocess_failed_nightly")(context)
    retryable = {by_name["a.pdf"], by_name["b.pdf"]}
    order = dagster_instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME)
    covered = set()
    for request in requests:
        start, end = (request.tags["dagster/asset_partition_range_start"],
                      request.tags["dagster/asset_partition_range_end"])
        span = order[order.index(start):order.index(end) + 1]
        processed = documents_wanted(request.tags, span)  # what the step processes; the rest is skipped
        covered |= set(processed)
        assert request.run_key.startswith("reprocess:2026-01-02:") and request.tags[RESUME_TAG] == "true"
        if len(processed) < len(span):  # a range with gaps must not fail the skipped partitions
            assert request.run_config["ops"]["document_pipeline"]["config"]["fail_step_on_document_errors"] is False
    assert covered == retryable, "runs process exactly the retryable failures"
    assert by_name["corrupt.pdf"] not in covered


def test_schedules_start_stopped_locally():
    assert {s.default_status for s in build_schedules(Settings(environment="local"))} == {DefaultScheduleStatus.STOPPED}


def test_the_compaction_job_optimizes_the_delta_tables(tmp_path, dagster_instance):
    from upstage_assets.resources.storage import StorageResource
    from upstage_assets.storage.table_writer import DeltaTableWriter
    from upstage_assets_tests.storage.rows import table_row

    outputs = tmp_path / "outputs"
    writer = DeltaTableWriter(LocalObjectStore(outputs), LAYOUT)
    for i in range(6):
        writer.commit([table_row(f"{i:016x}", str(i), datetime.now(UTC))])
    storage = StorageResource(output_root=str(outputs), inbox=str(tmp_path / "inbox"))
    result = compact_tables_job.execute_in_process(instance=dagster_instance, resources={"storage": storage})
    assert result.success
    from upstage_assets.storage.delta import TableLocation
    from upstage_assets.storage.tables import open_delta

    table = open_delta(TableLocation(str(outputs / LAYOUT.tables / SCHEMA.name)))
    assert len(table.file_uris()) == 1 and table.count() == 6
