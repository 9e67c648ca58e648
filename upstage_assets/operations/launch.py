"""Executing planned recovery batches here, and failing runs whose worker process died.

``execute_batches`` runs each ``RecoveryBatch`` (``operations/recovery.py``) one after another
on the given instance, as the CLI does when no daemon is running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, JobDefinition, RunsFilter

from upstage_assets.operations.recovery import RecoveryBatch, new_recovery_id

logger = logging.getLogger(__name__)

UNFINISHED = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING]


def execute_batches(instance: DagsterInstance, job: JobDefinition, batches: Sequence[RecoveryBatch], *,
                    reason: str, resume: bool = True, recovery_id: str | None = None,
                    run_config: Mapping[str, Any] | None = None,
                    asset_selection: Sequence[AssetKey] | None = None,
                    on_run: Callable[[RecoveryBatch, str, bool], None] | None = None) -> list[str]:
    """Execute planned batches here, one run after another; return the run ids."""
    recovery_id = recovery_id or new_recovery_id(sum(len(b.documents) for b in batches))
    run_ids = []
    for batch in batches:
        result = job.execute_in_process(instance=instance, tags=batch.tags(recovery_id, reason, resume),
                                        run_config=batch.run_config(run_config), raise_on_error=False,
                                        asset_selection=list(asset_selection) if asset_selection else None)
        run_ids.append(result.run_id)
        if on_run is not None:
            on_run(batch, result.run_id, result.success)
    return run_ids


def _worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid the run's orchestration logged (in-process and multiprocess executors log it)."""
    from dagster import DagsterEventType

    for record in instance.get_records_for_run(run_id, of_type={DagsterEventType.ENGINE_EVENT}, limit=50).records:
        event = record.event_log_entry.dagster_event
        data = event.engine_event_data if event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None:
            return int(str(pid.value))
    return None


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def mark_dead_runs_failed(instance: DagsterInstance) -> list[str]:
    """Fail unfinished runs whose worker process on this host is gone, and free their pool slots.

    Run monitoring does this for runs a run launcher started; a run executed by a process that
    was killed (``dagster job execute``, a CLI, a test) has no launcher to ask, so its logged
    worker pid is checked here instead. Runs without a pid on record are left alone, and so is
    everything when runs are launched on other machines (ECS, Kubernetes): a pid there means
    nothing here, and run monitoring covers those runs.
    """
    from dagster import DefaultRunLauncher

    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return []
    failed = []
    for run in instance.get_runs(filters=RunsFilter(statuses=UNFINISHED)):
        pid = _worker_pid(instance, run.run_id)
        if pid is None or _alive(pid):
            continue
        instance.report_run_failed(run, f"the run's worker process {pid} is gone (killed or crashed)")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
        logger.warning("marked run %s failed: worker %s is gone", run.run_id, pid)
    return failed
