"""Turning document ids into work: runs executed here (``--wait``) or a backfill for the daemon.

In process, each batch of ``upstage_assets.operations.recovery.plan_batches`` (a contiguous partition
range holding at most 50 wanted documents; the others in the range are skipped, not redone)
is one ``process_documents`` run on the persistent instance, so the UI shows it like any other. Without ``--wait`` the documents become one asset backfill,
exactly what the UI's "Materialize" button creates: the daemon splits it into runs per the
pipeline's BackfillPolicy (UPSTAGE_ASSETS_DOCUMENTS_PER_RUN documents a run, 100 by default) and its queue bounds how many run at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from upstage_assets.cli.common import info, progress_bar, storage_of
from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS
from upstage_assets.operations.launch import execute_batches
from upstage_assets.operations.recovery import RecoveryBatch

#: Runs executed by the CLI log everything to the instance (the UI, `dagster` logs) but print
#: nothing: the command prints one line per failed document itself, never a stack trace.
CLI_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

DAEMON_FRESH_SECONDS = 120


@dataclass
class LaunchReport:
    runs: list[tuple[str, bool]] = field(default_factory=list)  # (run id, success)
    backfill_id: str | None = None
    documents: int = 0
    seconds: float = 0.0


def execute_batches_here(defs: Any, instance: Any, batches: Sequence[RecoveryBatch], *, reason: str,
                         resume: bool, verbose: bool = False, show_progress: bool = True) -> LaunchReport:
    """Run each planned batch as one ``process_documents`` run in this process, one after another."""
    report = LaunchReport(documents=sum(len(b.documents) for b in batches))
    started = time.monotonic()
    with progress_bar(report.documents, "doc", show_progress, "documents") as bar:
        def on_run(batch: RecoveryBatch, run_id: str, success: bool) -> None:
            report.runs.append((run_id, success))
            bar.update(len(batch.documents))

        execute_batches(instance, defs.resolve_job_def("process_documents"), batches, reason=reason,
                        resume=resume, run_config=None if verbose else CLI_LOGS, on_run=on_run)
    report.seconds = time.monotonic() - started
    if batches:
        fold_summaries_here(defs)
    return report


def fold_summaries_here(defs: Any) -> None:
    """Fold the summaries after runs executed in this process (``ingest --wait``, ``retry-failed
    --wait``). A local deployment with its schedules stopped never runs ``compact_summaries``, so
    without this its change markers pile up and every ``status`` re-reads each changed file. The
    cost follows the files the runs just wrote (a fold reads only what changed; the first one reads
    every file once). Markers younger than the grace stay for the next fold; a failed fold only
    leaves them for later, so it never fails the command. Not from ``status``: that stays a
    read-only report (dashboards and scripts run it, possibly with read-only credentials)."""
    from upstage_assets.storage.folds import fold_summaries

    storage = storage_of(defs)
    try:
        reports = fold_summaries(storage.output_store(), storage.layout)
    except Exception as exc:  # noqa: BLE001 - the runs are done; the next fold catches up
        info(f"summaries not folded now ({type(exc).__name__}): `upstage-assets compact-summaries` or the "
             "compact_summaries schedule folds them later")
        return
    info(f"summaries folded: {sum(r.files_read for r in reports)} changed files read, "
         f"{sum(r.markers_deleted for r in reports)} change markers removed")


def run_problems(instance: Any, run_id: str) -> list[str]:
    """Why a run failed, and failed checks that did not fail it, one line each, for the CLI's summary."""
    from dagster import DagsterEventType

    lines = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        if evaluation.passed:
            continue
        metadata = {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}
        detail = ""
        if "quarantined_fraction" in metadata:
            detail = (f": {metadata['quarantined_fraction']:.0%} of {metadata.get('validated', '?')} validated documents "
                      f"quarantined (limit {metadata.get('max_quarantined_fraction', '?')}); see `upstage-assets "
                      "status` and the quarantine tables")
        lines.append(f"check {evaluation.check_name} failed{detail}")
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        error = entry.dagster_event.step_failure_data.error
        message = re.sub(r"^[\w.]+: ", "", (error.message if error else "").strip()).splitlines()  # no class path
        lines.append(f"step {entry.dagster_event.step_key} failed: {message[0] if message else 'no message'}")
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE):
        message = (entry.dagster_event.message or "").strip().splitlines()
        if not lines and message:
            lines.append(message[0])
    return lines


def submit_backfill(defs: Any, instance: Any, keys: Sequence[str], *, title: str, reason: str) -> LaunchReport:
    """One asset backfill over ``keys`` for the daemon to run; returns at once."""
    from upstage_assets.dagster_compat import PartitionBackfill, make_new_backfill_id

    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(), asset_graph=defs.resolve_asset_graph(),
        partition_names=list(keys), asset_selection=list(DOCUMENT_ASSET_KEYS), backfill_timestamp=time.time(),
        tags={"upstage_assets/reason": reason}, dynamic_partitions_store=instance, all_partitions=False,
        title=title, description=f"{len(keys)} documents ({reason}), submitted by upstage-assets",
        run_config=None)
    instance.add_backfill(backfill)
    return LaunchReport(backfill_id=backfill.backfill_id, documents=len(keys))


def daemon_seen(instance: Any) -> bool:
    """Whether a dagster-daemon (or `dagster dev`) has sent a backfill heartbeat recently."""
    heartbeat = instance.get_daemon_heartbeats().get("BACKFILL")
    return heartbeat is not None and time.time() - heartbeat.timestamp < DAEMON_FRESH_SECONDS
