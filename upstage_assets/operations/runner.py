"""Run the inbox once, in this process: the inbox sensor's ticks, then the runs they request.

Used by `make demo` and by benchmarks and tests that want results without a daemon. It
evaluates the real ``new_inbox_documents`` sensor (``new_s3_documents`` for an s3:// inbox,
following its cursor across budgeted ticks) against a persistent instance and executes each
requested run here with ``execute_in_process``, so the result is the same as letting the
daemon do it, only sooner; then one evaluation of the automation conditions (the refreshed
``quality_report``). The CLI's ``ingest --wait`` and ``retry-failed`` plan their own
batches (``operations/recovery.py``) and do not go through here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, Definitions, SensorDefinition, build_sensor_context

from upstage_assets.dagster_compat import SensorExecutionData
from upstage_assets.storage.registry import DocumentRecord

# Runs still log everything to the instance (the UI); the console shows warnings and errors only.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class InboxReport:
    records: list[DocumentRecord] = field(default_factory=list)
    runs: list[tuple[str, bool]] = field(default_factory=list)  # (run_id, success)
    documents: int = 0
    pages: int = 0
    fields_found: int = 0
    rows: int = 0
    quarantined: int = 0
    failed: int = 0

    def summary_lines(self) -> list[str]:
        ok = sum(1 for _, success in self.runs if success)
        return [f"documents: {self.documents}", f"pages: {self.pages}", f"fields found: {self.fields_found}",
                f"rows: {self.rows} validated, {self.quarantined} quarantined", f"failures: {self.failed}",
                f"runs: {len(self.runs)} ({ok} succeeded)"]


def tick_sensor(sensor_def: SensorDefinition, instance: DagsterInstance, storage: Any, cursor: str | None = None,
                apply: bool = True) -> SensorExecutionData:
    """Evaluate one tick the way the daemon does, and (``apply``) add the partitions it requests."""
    from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME

    with build_sensor_context(instance=instance, resources={"storage": storage}, cursor=cursor) as context:
        tick = sensor_def.evaluate_tick(context)
    if apply:
        for request in tick.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, list(request.partition_keys))
    return tick


def refresh_automated_assets(defs: Definitions, instance: DagsterInstance) -> list[tuple[str, bool]]:
    """One evaluation of the unpartitioned assets' automation conditions (what the default
    automation sensor does on a tick), then one run of what it requested, here: the
    ``quality_report`` after new rows."""
    from dagster import AssetSelection, evaluate_automation_conditions

    graph = defs.resolve_asset_graph()
    automated = [key for key in graph.get_all_asset_keys()
                 if graph.get(key).automation_condition is not None and not graph.get(key).is_partitioned]
    if not automated:
        return []
    result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=AssetSelection.assets(*automated))
    requested = [key for key in automated if result.get_num_requested(key)]
    if not requested:
        return []
    outcome = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=requested, raise_on_error=False, run_config=QUIET_LOGS)
    return [(outcome.run_id, outcome.success)]


def process_inbox_once(dagster_home: str | os.PathLike[str] | None, instance: DagsterInstance | None = None,
                       defs: Definitions | None = None, verbose: bool = False) -> InboxReport:
    from upstage_assets.operations.local_instance import local_instance

    if instance is None:
        if dagster_home is None:
            raise ValueError("give a Dagster home or an instance")
        instance = local_instance(dagster_home)
    from upstage_assets.definitions import build_definitions

    defs = defs or build_definitions()
    from upstage_assets.defs.sensors.s3 import pass_in_progress
    from upstage_assets.operations.reporting import summarize_outputs

    storage = (defs.resources or {})["storage"]
    on_s3 = str(storage.inbox).startswith("s3://")
    sensor_def = defs.resolve_sensor_def("new_s3_documents" if on_s3 else "new_inbox_documents")
    job = defs.resolve_job_def("process_documents")
    report = InboxReport()
    cursor = None
    while True:
        tick = tick_sensor(sensor_def, instance, storage, cursor)
        cursor = tick.cursor
        if not tick.run_requests and not (on_s3 and pass_in_progress(cursor)):
            break
        for run_request in tick.run_requests or []:
            result = job.execute_in_process(instance=instance, tags=run_request.tags, raise_on_error=False,
                                            run_config=None if verbose else QUIET_LOGS)
            report.runs.append((result.run_id, result.success))
    report.runs += refresh_automated_assets(defs, instance)
    registry = storage.registry()
    report.records = [r for r in (registry.get(i) for i in registry.document_ids()) if r is not None]
    summarize_outputs(Path(storage.output_root), report)
    return report
