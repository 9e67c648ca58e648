"""Sensors that turn new files into partitions and batched runs.

``new_inbox_documents`` watches the configured inbox when it is a local folder (an S3
prefix is ``new_s3_documents``'s): new bytes become dynamic partitions in one request per
tick and runs covering many documents each. Unchanged files are not re-read (an index keyed
by object version), the same bytes under any name are one document, and a tick stops after
a bounded number of documents so it stays inside the sensor timeout; the next tick continues.
"""

from __future__ import annotations

from dagster import (
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from upstage_assets.defs.pipeline.jobs import batched_run_requests, process_documents_job
from upstage_assets.defs.pipeline.partitions import documents_partitions
from upstage_assets.defs.sensors.known import KnownPartitions
from upstage_assets.ingest.folder import scan_inbox
from upstage_assets.resources.storage import StorageResource
from upstage_assets.settings import Settings


def sensor_status(settings: Settings) -> DefaultSensorStatus:
    """The inbox sensors' default status (running locally, opt-in elsewhere; see ``Settings``)."""
    return DefaultSensorStatus.RUNNING if settings.inbox_sensors_running else DefaultSensorStatus.STOPPED


def inbox_tick(context: SensorEvaluationContext, storage: StorageResource, settings: Settings):
    """The sensor's body: register what is new in a local-folder inbox and ask for batched runs."""
    if storage.inbox.startswith("s3://"):
        return SkipReason("the inbox is an s3:// prefix: new_s3_documents watches it incrementally")
    result = scan_inbox(storage.inbox_store(), storage.output_store(), storage.registry(),
                        default_schema=settings.default_schema, max_documents=settings.max_documents_per_tick)
    for uri, reason in result.skipped:
        context.log.info(f"skipped {uri}: {reason}")
    if not result.new_records:
        return SkipReason(f"no new documents ({len(result.duplicates)} already known, "
                          f"{len(result.skipped)} skipped)")
    new_ids = result.new_ids
    existing = KnownPartitions(context.instance)
    to_add = [k for k in new_ids if k not in existing]
    context.log.info(f"registering {len(to_add)} new documents; {result.remaining} left for the next tick")
    return SensorResult(
        run_requests=batched_run_requests(new_ids, settings.documents_per_run, reason="new inbox documents",
                                          run_key_prefix="inbox"),
        dynamic_partitions_requests=[documents_partitions.build_add_request(to_add)] if to_add else [],
    )


def build_inbox_sensor(settings: Settings) -> SensorDefinition:
    @sensor(name="new_inbox_documents", job=process_documents_job, minimum_interval_seconds=15,
            default_status=sensor_status(settings),
            description="Registers new documents in a local-folder inbox as partitions and requests "
                        f"batched runs of up to {settings.documents_per_run} documents each.")
    def new_inbox_documents(context: SensorEvaluationContext, storage: StorageResource):
        return inbox_tick(context, storage, settings)

    return new_inbox_documents
