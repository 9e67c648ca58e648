"""``new_s3_documents``: an S3 inbox becomes partitions and batched runs, incrementally.

Each tick runs one bounded step of ``scan_s3_inbox`` (see ``ingest/s3_scan.py`` for the
cursor, the versioning by ETag and the content dedup), adds every new document as a
dynamic partition in one request and asks for runs of ``DOCUMENTS_PER_RUN`` documents.
Zero-byte objects land in the failures table under an id derived from their URI.
When the configured inbox is a local folder, ``new_inbox_documents`` handles it and this
sensor skips.
"""

from __future__ import annotations

import json

from dagster import (
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from upstage_assets.defs.pipeline.jobs import batched_run_requests, process_documents_job
from upstage_assets.defs.pipeline.partitions import documents_partitions
from upstage_assets.defs.sensors.inbox import sensor_status
from upstage_assets.defs.sensors.known import KnownPartitions
from upstage_assets.ingest.s3_scan import S3ScanLimits, S3ScanResult, scan_s3_inbox
from upstage_assets.resources.storage import StorageResource
from upstage_assets.settings import Settings
from upstage_assets.storage.object_store import S3ObjectStore

RECONCILE_INTERVAL_S = 3600  # the listing pass when an event queue does the intake


def _summary(result: S3ScanResult) -> str:
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(result.skipped.items())) or "none"
    return (f"{len(result.new_records)} new, {len(result.duplicates)} already known, "
            f"{len(result.failures)} failed, skipped: {skipped}; listed {result.listed} objects in "
            f"{result.pages} pages, read {result.reads}"
            + ("; more next tick" if result.budget_exhausted else "")
            + ("; pass complete" if result.pass_completed else ""))


def pass_in_progress(cursor: str | None) -> bool:
    """True while a listing pass is part-way (a budgeted tick stopped): tick again for the rest."""
    if not cursor:
        return False
    try:
        return bool(json.loads(cursor).get("after"))
    except (ValueError, AttributeError):
        return False


def s3_inbox_tick(context: SensorEvaluationContext, storage: StorageResource, limits: S3ScanLimits,
                  settings: Settings, documents_per_run: int | None = None,
                  failure_run_id: str = "sensor") -> tuple[SensorResult, S3ScanResult | None]:
    """The sensor's body; also returns the scan's counts (the benchmark reports them)."""
    if not storage.inbox.startswith("s3://"):
        return SensorResult(skip_reason=f"the inbox {storage.inbox} is not an s3:// prefix "
                                        "(new_inbox_documents watches local folders)"), None
    inbox = storage.inbox_store()
    assert isinstance(inbox, S3ObjectStore)
    result = scan_s3_inbox(
        inbox, storage.output_store(), storage.registry(), cursor=context.cursor,
        is_partition=KnownPartitions(context.instance).__contains__,
        default_schema=settings.default_schema, limits=limits, failure_run_id=failure_run_id)
    context.log.info(_summary(result))
    for uri, failure_id in result.failures:
        context.log.warning(f"{uri} is empty: recorded as failure {failure_id}")
    new_ids = result.new_ids
    if not new_ids:
        return SensorResult(skip_reason=f"no new documents ({_summary(result)})", cursor=result.cursor), result
    return SensorResult(
        run_requests=batched_run_requests(new_ids, documents_per_run or settings.documents_per_run, reason="new S3 documents", run_key_prefix="s3"),
        dynamic_partitions_requests=[documents_partitions.build_add_request(new_ids)],
        cursor=result.cursor,
    ), result


def build_s3_documents_sensor(settings: Settings, name: str = "new_s3_documents", limits: S3ScanLimits | None = None,
                              minimum_interval_seconds: int | None = None,
                              documents_per_run: int | None = None) -> SensorDefinition:
    """The sensor, with its own limits where given (tests and the benchmark use small pages and budgets).

    Every 30 s by default; hourly (a reconciliation of what the events missed) when S3 events
    arrive on an SQS queue (``s3_event_documents``).
    """
    scan_limits = limits or S3ScanLimits()
    if minimum_interval_seconds is None:
        minimum_interval_seconds = RECONCILE_INTERVAL_S if settings.s3_event_queue_url else 30
    documents_per_run = documents_per_run or settings.documents_per_run

    @sensor(name=name, job=process_documents_job, minimum_interval_seconds=minimum_interval_seconds,
            default_status=sensor_status(settings),
            description="Registers new objects under an s3:// inbox as document partitions, incrementally "
                        f"(cursor + ETag versions), and requests runs of up to {documents_per_run} documents.")
    def _new_s3_documents(context: SensorEvaluationContext, storage: StorageResource) -> SensorResult:
        return s3_inbox_tick(context, storage, scan_limits, settings, documents_per_run,
                             failure_run_id=f"sensor:{name}")[0]

    return _new_s3_documents
