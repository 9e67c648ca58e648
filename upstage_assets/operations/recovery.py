"""Planning recovery runs (pure): "process missing" and "reprocess failed", in batched runs.

A Dagster 1.13 run targets one partition key or one contiguous key range, and a plain
backfill of scattered dynamic keys becomes one run per key (about 4 s each before any work).
Recovery therefore launches runs over contiguous stretches of the partition order that
cover up to ``batch_size`` wanted documents each, and tells the step which documents of the
stretch it wants (``ONLY_DOCUMENTS_TAG``): the finished documents in between are skipped
inside the step, so nothing is redone or re-paid, and they get no new materialization.
With ``RESUME_TAG`` a wanted document also skips the stages it already has (a run killed
after ``parsed_layouts`` resumes at ``kie_fields``), except from the stage it last failed at.
This is the one way the CLI (``ingest --wait``, ``retry-failed``), the nightly "reprocess
failed" schedule and the chaos/recovery tools turn document ids into runs. Which documents
are wanted is ``operations/backlog.py``; executing the batches here is ``operations/launch.py``;
what the step reads from the tags is ``defs/pipeline/resume.py``.

A range run that fails would mark every planned, unmaterialized partition of its range
failed in the UI, including the skipped finished ones; so a run whose range has gaps does
not fail its step on document errors (they are still recorded in the failures table, which
``reprocess failed`` reads). A gap-free run keeps the normal behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import RunRequest

from upstage_assets.dagster_compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from upstage_assets.defs.pipeline.keys import KIE_FIELDS, VALIDATED_DOCUMENTS
from upstage_assets.defs.pipeline.resume import ONLY_DOCUMENTS_TAG, RESUME_TAG

RECOVERY_TAG = "upstage_assets/recovery"  # id shared by the runs of one recovery
REASON_TAG = "upstage_assets/reason"
DEFAULT_BATCH_SIZE = 50
SCHEMA_STAGES = (KIE_FIELDS, VALIDATED_DOCUMENTS)  # what a schema change re-runs
MAX_SPAN_FACTOR = 4  # a run's range spans at most this many times batch_size partitions


# --- planning --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecoveryBatch:
    """One run: a contiguous range of the partition order and the documents wanted in it."""

    start: str
    end: str
    documents: tuple[str, ...]
    span: int  # partitions in the range, wanted or not

    @property
    def has_gaps(self) -> bool:
        return self.span > len(self.documents)

    def tags(self, recovery_id: str, reason: str, resume: bool) -> dict[str, str]:
        tags = {ASSET_PARTITION_RANGE_START_TAG: self.start, ASSET_PARTITION_RANGE_END_TAG: self.end,
                RECOVERY_TAG: recovery_id, REASON_TAG: reason, "upstage_assets/documents": str(len(self.documents))}
        if self.has_gaps:
            tags[ONLY_DOCUMENTS_TAG] = ",".join(self.documents)
        if resume:
            tags[RESUME_TAG] = "true"
        return tags

    def run_config(self, base: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """``base``, with step failure on document errors off when the range has gaps (see above)."""
        config = dict(base or {})
        if self.has_gaps:
            config = _without_step_failure(config)
        return config or None

    def run_request(self, recovery_id: str, reason: str, resume: bool, *, run_key_prefix: str | None = None,
                    run_config: Mapping[str, Any] | None = None) -> RunRequest:
        """This batch as a schedule's or sensor's request for a ``process_documents`` run."""
        run_key = f"{run_key_prefix}:{self.start}:{self.end}" if run_key_prefix else None
        return RunRequest(run_key=run_key, tags=self.tags(recovery_id, reason, resume),
                          run_config=self.run_config(run_config) or {})


def plan_batches(order: Sequence[str], wanted: Iterable[str], batch_size: int = DEFAULT_BATCH_SIZE,
                 max_span: int | None = None, max_gap: int | None = None) -> list[RecoveryBatch]:
    """Cover the wanted keys with ranges of at most ``batch_size`` wanted and ``max_span`` keys.

    ``max_gap`` bounds the unwanted partitions a range may skip between two wanted ones (0: only
    gap-free ranges, which keep the normal step failure); by default only ``max_span`` bounds it.
    """
    if batch_size < 1 or (max_gap is not None and max_gap < 0):
        raise ValueError("batch_size must be at least 1 and max_gap at least 0")
    max_span = max_span or batch_size * MAX_SPAN_FACTOR
    wanted_set = set(wanted)
    unknown = wanted_set - set(order)
    if unknown:
        raise ValueError(f"{len(unknown)} documents are not partitions (e.g. {sorted(unknown)[:3]}); add them first")
    batches: list[RecoveryBatch] = []
    first_index: int | None = None
    chosen: list[str] = []
    last_index = 0
    for index, key in enumerate(order):
        if key not in wanted_set:
            continue
        if chosen and first_index is not None and (len(chosen) == batch_size or index - first_index + 1 > max_span
                                                   or (max_gap is not None and index - last_index - 1 > max_gap)):
            batches.append(RecoveryBatch(order[first_index], order[last_index], tuple(chosen),
                                         last_index - first_index + 1))
            chosen, first_index = [], None
        if first_index is None:
            first_index = index
        chosen.append(key)
        last_index = index
    if chosen and first_index is not None:
        batches.append(RecoveryBatch(order[first_index], order[last_index], tuple(chosen),
                                     last_index - first_index + 1))
    return batches


def new_recovery_id(documents: int) -> str:
    return f"{int(time.time())}-{documents}"


def _without_step_failure(run_config: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {**run_config}
    ops = dict(config.get("ops") or {})
    step = dict(ops.get("document_pipeline") or {})
    step["config"] = {**(step.get("config") or {}), "fail_step_on_document_errors": False}
    ops["document_pipeline"] = step
    config["ops"] = ops
    return config


