"""Schedules: nightly re-processing of failed documents, weekly Delta maintenance of the tables,
and every 15 minutes the folding of new per-document files into the summaries ``status`` reads.

Both start stopped in the local environment (nothing should run behind a laptop user's
back) and running in aws/k8s; turn them on in the UI or with `dagster schedule start`.
"""


from dagster import (
    Config,
    DefaultScheduleStatus,
    OpExecutionContext,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    job,
    op,
    schedule,
)
from pydantic import Field

from upstage_assets.defs.pipeline.jobs import process_documents_job
from upstage_assets.operations.backlog import failed_documents, partition_order
from upstage_assets.operations.compaction import (
    DEFAULT_RETENTION_HOURS,
    DEFAULT_TARGET_FILE_BYTES,
    compact_tables,
)
from upstage_assets.operations.recovery import plan_batches
from upstage_assets.resources.storage import StorageResource
from upstage_assets.settings import Settings
from upstage_assets.storage import folds
from upstage_assets.storage.summaries import GRACE_S


def schedule_status(settings: Settings) -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if settings.schedules_running else DefaultScheduleStatus.STOPPED


def reprocess_failed(context: ScheduleEvaluationContext, storage: StorageResource, documents_per_run: int):
    """The nightly schedule's body: batched resume runs over the retryable failed documents."""
    order = partition_order(context.instance)
    known = set(order)
    failed = [d for d in failed_documents(storage, retryable_only=True, instance=context.instance)
              if d in known]  # deleted partitions: no
    if not failed:
        return SkipReason("no retryable failed documents")
    tick = context.scheduled_execution_time.strftime("%Y-%m-%d") if context.scheduled_execution_time else "now"
    return [batch.run_request(f"nightly-{tick}", "nightly reprocess failed", resume=True,
                              run_key_prefix=f"reprocess:{tick}")
            for batch in plan_batches(order, failed, documents_per_run)]


class CompactionConfig(Config):
    target_file_bytes: int = Field(default=DEFAULT_TARGET_FILE_BYTES, description="size optimize aims at per file")
    retention_hours: int = Field(default=DEFAULT_RETENTION_HOURS,
                                 description="vacuum keeps the files of versions younger than this")


@op(description="Delta maintenance of every table: optimize (compact small files), vacuum, checkpoint.")
def compact_validated_tables(context: OpExecutionContext, config: CompactionConfig, storage: StorageResource) -> None:
    reports = compact_tables(storage.output_store(), storage.layout, target_file_bytes=config.target_file_bytes,
                             retention_hours=config.retention_hours)
    for report in reports:
        context.log.info(f"{report.table}: {report.files_before} -> {report.files_after} files, {report.rows} rows, "
                         f"{report.files_vacuumed} old files vacuumed, now version {report.version}")
    context.add_output_metadata({r.table: f"{r.files_before} -> {r.files_after} files, {r.rows} rows"
                                 for r in reports} or {"tables": "none"})


@job(description="Optimize, vacuum and checkpoint the Delta tables under tables/ and quarantine/.")
def compact_tables_job():
    compact_validated_tables()


class SummaryConfig(Config):
    grace_s: float = Field(default=GRACE_S, description="markers younger than this stay (a write may be in flight)")
    rescan: bool = Field(default=False, description="read every file, not only the changed ones")


@op(description="Fold the registry, page-count, bill and failure files changed since the last time into the "
                "summaries `status` reads (storage/summaries.py, storage/failures.py).")
def fold_summaries(context: OpExecutionContext, config: SummaryConfig, storage: StorageResource) -> None:
    reports = folds.fold_summaries(storage.output_store(), storage.layout, grace_s=config.grace_s,
                                  rescan=config.rescan)
    for report in reports:
        context.log.info(f"{report.kind}: {report.rows} files summarised, {report.files_read} read, "
                         f"{report.markers_deleted} change markers removed")
    context.add_output_metadata({r.kind: f"{r.rows} files, {r.files_read} read" for r in reports})


@job(description="Fold changed registry, page-count, bill and failure files into the summaries status reads.")
def compact_summaries_job():
    fold_summaries()


def build_schedules(settings: Settings) -> list[ScheduleDefinition]:
    status = schedule_status(settings)

    @schedule(name="reprocess_failed_nightly", cron_schedule="0 2 * * *", job=process_documents_job,
              default_status=status, execution_timezone="UTC",
              description="Every night, re-run the documents whose last error may pass on a retry (throttling, "
                          f"budget, a source that was unreachable), in runs of up to {settings.documents_per_run}; "
                          "the healthy documents inside a run's range are skipped, and each resumes at the stage "
                          "it failed in.")
    def reprocess_failed_nightly(context: ScheduleEvaluationContext, storage: StorageResource):
        return reprocess_failed(context, storage, settings.documents_per_run)

    @schedule(name="compact_tables_weekly", cron_schedule="0 3 * * 0", job=compact_tables_job,
              default_status=status, execution_timezone="UTC",
              description="Every Sunday, optimize, vacuum and checkpoint the Delta tables.")
    def compact_tables_weekly(context: ScheduleEvaluationContext):
        return {}

    @schedule(name="compact_summaries", cron_schedule="*/15 * * * *", job=compact_summaries_job,
              default_status=status, execution_timezone="UTC",
              description="Every 15 minutes, fold the registry, page-count and bill files written since into "
                          "the summaries `upstage-assets status` reads, so it reads the changes, not every file.")
    def compact_summaries_quarterly(context: ScheduleEvaluationContext):
        return {}

    return [reprocess_failed_nightly, compact_tables_weekly, compact_summaries_quarterly]
