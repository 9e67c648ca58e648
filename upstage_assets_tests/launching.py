"""Tests' one-call launcher: add partitions, plan batches, execute them here.

Only tests and the reliability tools use it; the package's callers (CLI, schedule) plan and
launch with ``operations.recovery.plan_batches`` and ``operations.launch.execute_batches``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagster import AssetKey, DagsterInstance, Definitions

from upstage_assets.operations.backlog import add_partitions, partition_order
from upstage_assets.operations.launch import execute_batches
from upstage_assets.operations.recovery import DEFAULT_BATCH_SIZE, RecoveryBatch, plan_batches


def launch_batched_runs(instance: DagsterInstance, keys: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, *,
                        defs: Definitions, reason: str = "process missing", resume: bool = True,
                        run_config: Mapping[str, Any] | None = None,
                        asset_selection: Sequence[AssetKey] | None = None,
                        on_run: Callable[[RecoveryBatch, str, bool], None] | None = None) -> list[str]:
    """Process ``keys`` in batched ``process_documents`` runs on ``instance``; return the run ids."""
    if not keys:
        return []
    add_partitions(instance, keys)
    batches = plan_batches(partition_order(instance), keys, batch_size)
    return execute_batches(instance, defs.resolve_job_def("process_documents"), batches, reason=reason,
                           resume=resume, run_config=run_config, asset_selection=asset_selection, on_run=on_run)
