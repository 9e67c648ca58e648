"""Finishing interrupted work: "process missing" and "reprocess failed", in batched runs.

A Dagster 1.13 run targets one partition key or one contiguous key range, and a plain
backfill of scattered dynamic keys becomes one run per key (about 4 s each before any work).
Recovery therefore launches runs over contiguous stretches of the partition order that
cover up to ``batch_size`` wanted documents each, and tells the step which documents of the
stretch it wants (``ONLY_DOCUMENTS_TAG``): the finished documents in between are skipped
inside the step, so nothing is redone or re-paid, and they get no new materialization.
With ``RESUME_TAG`` a wanted document also skips the stages it already has (a run killed
after ``parsed_layouts`` resumes at ``kie_fields``), except from the stage it last failed at.
This is the one way the CLI (``ingest --wait``, ``retry-failed``), the nightly "reprocess
failed" schedule and the chaos/recovery tools turn document ids into runs.

A range run that fails would mark every planned, unmaterialized partition of its range
failed in the UI, including the skipped finished ones; so a run whose range has gaps does
not fail its step on document errors (they are still recorded in the failures table, which
``reprocess failed`` reads). A gap-free run keeps the normal behaviour.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    JobDefinition,
    RunRequest,
    RunsFilter,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._core.storage.tags import (
    PARTITION_NAME_TAG as PARTITION_TAG,
)

from upstage_assets.assets.keys import DOCUMENT_ASSET_KEYS, KIE_FIELDS, VALIDATED_DOCUMENTS
from upstage_assets.errors import UnsafeDocumentKey
from upstage_assets.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.storage.failures import failed_partition_ids
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore

logger = logging.getLogger(__name__)

ONLY_DOCUMENTS_TAG = "upstage_assets/only_documents"  # comma-separated keys the step processes
RESUME_TAG = "upstage_assets/resume"  # "true": skip the stages a document already has
RECOVERY_TAG = "upstage_assets/recovery"  # id shared by the runs of one recovery
REASON_TAG = "upstage_assets/reason"
DEFAULT_BATCH_SIZE = 50
SCHEMA_STAGES = (KIE_FIELDS, VALIDATED_DOCUMENTS)  # what a schema change re-runs
MAX_SPAN_FACTOR = 4  # a run's range spans at most this many times batch_size partitions
UNFINISHED = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING]


# --- inside the step -------------------------------------------------------------------------

def documents_wanted(tags: Mapping[str, str], keys: Sequence[str]) -> list[str]:
    """The run's keys, narrowed to the listed ones when the run is a recovery run."""
    listed = tags.get(ONLY_DOCUMENTS_TAG)
    if not listed:
        return list(keys)
    wanted = set(listed.split(","))
    return [k for k in keys if k in wanted]


def _failed_stage(store: ObjectStore, layout: OutputLayout, document_id: str) -> str | None:
    try:
        key = layout.failure_key(document_id)
    except UnsafeDocumentKey:
        return None  # the stage refuses the key itself
    if not store.exists(key):
        return None
    try:
        table = pq.read_table(io.BytesIO(store.read_bytes(key)), columns=["stage"])
    except Exception as exc:  # an unreadable record must not stop the batch: resume from the start
        logger.warning("failure record of %s unreadable (%s); its stages are not skipped", document_id,
                       type(exc).__name__)
        return DOCUMENT_ASSET_KEYS[0].to_user_string()
    return table.column("stage")[0].as_py() if table.num_rows else None


def stages_to_skip(instance: DagsterInstance, tags: Mapping[str, str], keys: Sequence[str],
                   selected: Iterable[AssetKey], store: ObjectStore,
                   layout: OutputLayout) -> dict[str, set[AssetKey]]:
    """Per document, the leading stages already materialized (empty unless the run resumes)."""
    if tags.get(RESUME_TAG) != "true":
        return {}
    ordered = [k for k in DOCUMENT_ASSET_KEYS if k in set(selected)]
    done = {asset: instance.get_materialized_partitions(asset) for asset in ordered}
    skips: dict[str, set[AssetKey]] = {}
    for document_id in keys:
        failed_at = _failed_stage(store, layout, document_id)
        skip: set[AssetKey] = set()
        for asset in ordered:
            if asset.to_user_string() == failed_at or document_id not in done[asset]:
                break
            skip.add(asset)
        skips[document_id] = skip
    return skips


# --- choosing documents ----------------------------------------------------------------------

def partition_order(instance: DagsterInstance) -> list[str]:
    return list(instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME))


def add_partitions(instance: DagsterInstance, keys: Iterable[str]) -> list[str]:
    """Add the keys that are not partitions yet (in the given order); return the new ones."""
    existing = set(partition_order(instance))
    new = [k for k in dict.fromkeys(keys) if k not in existing]
    if new:
        instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, new)
    return new


def missing_documents(instance: DagsterInstance, storage: Any = None) -> list[str]:
    """Documents without a ``validated_documents`` materialization, in partition order.

    With ``storage`` (the StorageResource), registered documents that never became a partition
    (a sensor that died between registering and adding) are included at the end.
    """
    order = partition_order(instance)
    done = instance.get_materialized_partitions(VALIDATED_DOCUMENTS)
    missing = [k for k in order if k not in done]
    if storage is not None:
        known = set(order)
        missing += sorted(d for d in storage.registry().document_ids() if d not in known)
    return missing


def _latest_kie_schema_versions(instance: DagsterInstance) -> dict[str, str]:
    """Document -> schema version its latest ``kie_fields`` materialization was extracted with."""
    from dagster import AssetRecordsFilter

    latest: dict[str, str] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(AssetRecordsFilter(asset_key=KIE_FIELDS), limit=1000,
                                               cursor=cursor, ascending=False)
        for record in page.records:
            if record.partition_key and record.partition_key not in latest:
                event = record.asset_materialization
                value = event.metadata.get("schema_version") if event else None
                latest[record.partition_key] = str(getattr(value, "value", value))
        if not page.has_more:
            return latest
        cursor = page.cursor


def stale_documents(instance: DagsterInstance, storage: Any, default_schema: str = "invoice") -> list[str]:
    """Documents whose fields were extracted with another version of their schema than today's.

    Per document: its registered schema (a built-in name or a JSON file) is loaded now and its
    version compared with the one recorded on its latest ``kie_fields`` materialization, so
    editing the receipt schema marks receipts stale and leaves invoices alone. Re-run them with
    ``launch_batched_runs(..., asset_selection=SCHEMA_STAGES, resume=False)``: parsing is kept.
    """
    from upstage_assets.schemas.extraction import SchemaError, load_schema

    registry = storage.registry()
    current: dict[str, str | None] = {}
    stale = []
    recorded = _latest_kie_schema_versions(instance)
    for document_id in partition_order(instance):
        if document_id not in recorded:
            continue
        record = registry.get(document_id)
        ref = (record.schema if record else None) or default_schema
        if ref not in current:
            try:
                current[ref] = load_schema(ref).version
            except SchemaError:
                current[ref] = None  # a schema that no longer loads: its documents fail when re-run
        if current[ref] is not None and recorded[document_id] != current[ref]:
            stale.append(document_id)
    return stale


ACTIVE_RUN_STATUSES = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
                       DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def _run_documents(tags: Mapping[str, str], order: Sequence[str], index: Mapping[str, int]) -> set[str]:
    """The documents a run covers: its partition, or its range narrowed to its listed documents."""
    listed = tags.get(ONLY_DOCUMENTS_TAG)
    if listed:
        return set(listed.split(","))
    if tags.get(PARTITION_TAG):
        return {tags[PARTITION_TAG]}
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start is not None and end is not None and start in index and end in index:
        return set(order[index[start]:index[end] + 1])
    return set()


def _backfill_documents(instance: DagsterInstance) -> set[str]:
    """Documents targeted by asset backfills still in progress (their runs may not exist yet)."""
    from dagster._core.execution.backfill import BulkActionStatus

    documents: set[str] = set()
    for backfill in instance.get_backfills(status=BulkActionStatus.REQUESTED):
        data = backfill.asset_backfill_data
        if data is None:
            continue
        for key in DOCUMENT_ASSET_KEYS:
            subset = data.target_subset.partitions_subsets_by_asset_key.get(key)
            if subset is not None:
                documents |= set(subset.get_partition_keys())
    return documents


def documents_in_flight(instance: DagsterInstance) -> set[str]:
    """Documents that a queued or running run, or a backfill in progress, may still process."""
    order = partition_order(instance)
    index = {key: i for i, key in enumerate(order)}
    covered: set[str] = set()
    for run in instance.get_runs(filters=RunsFilter(statuses=ACTIVE_RUN_STATUSES)):
        covered |= _run_documents(run.tags, order, index)
    return covered | _backfill_documents(instance)


def unfinished_documents(instance: DagsterInstance, storage: Any) -> list[str]:
    """Documents in limbo: no ``validated_documents``, no recorded failure, and nothing processing them.

    A run that ended (succeeded, failed, canceled, or died) without finishing a document and
    without recording its failure leaves it here: a crash outside the per-document boundary, a
    killed worker, a canceled run. ``retry-failed`` processes them, resuming at the stage reached.
    """
    failed = set(failed_documents(storage))
    missing = [d for d in missing_documents(instance, storage) if d not in failed]
    if not missing:
        return []
    busy = documents_in_flight(instance)
    return [d for d in missing if d not in busy]


def failed_documents(storage: Any, *, retryable_only: bool = False) -> list[str]:
    """Documents whose latest attempt failed in a stage (the ``document_failures`` table), optionally
    only those whose error may pass on a retry. Sources refused at registration are left out: they
    are not partitions, and are retried by registering the fixed file."""
    return failed_partition_ids(storage.output_store(), storage.layout, retryable_only=retryable_only)


# --- batching --------------------------------------------------------------------------------

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


def launch_batched_runs(instance: DagsterInstance, keys: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, *,
                        defs: Definitions | None = None, reason: str = "process missing", resume: bool = True,
                        run_config: Mapping[str, Any] | None = None,
                        asset_selection: Sequence[AssetKey] | None = None,
                        on_run: Callable[[RecoveryBatch, str, bool], None] | None = None) -> list[str]:
    """Process ``keys`` in batched ``process_documents`` runs on ``instance``; return the run ids.

    Runs execute here, one after another, on the persistent instance (the UI shows them like
    any other run). Keys that are not partitions yet are added first. ``on_run(batch, run_id,
    success)`` is called after each run (a CLI's progress bar).
    """
    if not keys:
        return []
    if defs is None:
        from upstage_assets.definitions import build_definitions

        defs = build_definitions()
    add_partitions(instance, keys)
    batches = plan_batches(partition_order(instance), keys, batch_size)
    return execute_batches(instance, defs.resolve_job_def("process_documents"), batches, reason=reason,
                           resume=resume, run_config=run_config, asset_selection=asset_selection, on_run=on_run)


def new_recovery_id(documents: int) -> str:
    return f"{int(time.time())}-{documents}"


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


def _without_step_failure(run_config: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {**run_config}
    ops = dict(config.get("ops") or {})
    step = dict(ops.get("document_pipeline") or {})
    step["config"] = {**(step.get("config") or {}), "fail_step_on_document_errors": False}
    ops["document_pipeline"] = step
    config["ops"] = ops
    return config


# --- dead runs -------------------------------------------------------------------------------

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
    from dagster._core.launcher import DefaultRunLauncher

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
