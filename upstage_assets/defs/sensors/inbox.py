"""Sensors that turn new files into partitions and batched runs.

``new_inbox_documents`` watches the configured inbox (a local folder by default, or an S3
prefix): new bytes become dynamic partitions in one request per tick and runs covering
many documents each. Unchanged files are not re-read (an index keyed by object version),
the same bytes under any name are one document, and a tick stops after a bounded number of
documents so it stays inside the sensor timeout; the next tick continues.
"""


from dagster import (
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from upstage_assets.defs.pipeline.document_pipeline import DOCUMENTS_PER_RUN
from upstage_assets.defs.pipeline.jobs import batched_run_requests, process_documents_job
from upstage_assets.defs.pipeline.partitions import documents_partitions
from upstage_assets.ingest.folder import scan_inbox
from upstage_assets.resources.storage import StorageResource
from upstage_assets.settings import default_schema_name, inbox_sensor_status

MAX_DOCUMENTS_PER_TICK = 1000


@sensor(
    job=process_documents_job,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING if inbox_sensor_status() == "running" else DefaultSensorStatus.STOPPED,
    description="Registers new documents in the inbox (folder or s3:// prefix) as partitions and requests "
                f"batched runs of up to {DOCUMENTS_PER_RUN} documents each.",
)
def new_inbox_documents(context: SensorEvaluationContext, storage: StorageResource):
    if storage.inbox.startswith("s3://"):
        return SkipReason("the inbox is an s3:// prefix: new_s3_documents watches it incrementally")
    result = scan_inbox(storage.inbox_store(), storage.output_store(), storage.registry(),
                        default_schema=default_schema_name(), max_documents=MAX_DOCUMENTS_PER_TICK)
    for uri, reason in result.skipped:
        context.log.info(f"skipped {uri}: {reason}")
    if not result.new_records:
        return SkipReason(f"no new documents ({len(result.duplicates)} already known, "
                          f"{len(result.skipped)} skipped)")
    new_ids = result.new_ids
    existing = set(context.instance.get_dynamic_partitions(documents_partitions.name or "documents"))
    to_add = [k for k in new_ids if k not in existing]
    context.log.info(f"registering {len(to_add)} new documents; {result.remaining} left for the next tick")
    return SensorResult(
        run_requests=batched_run_requests(new_ids, DOCUMENTS_PER_RUN, reason="new inbox documents",
                                          run_key_prefix="inbox"),
        dynamic_partitions_requests=[documents_partitions.build_add_request(to_add)] if to_add else [],
    )
