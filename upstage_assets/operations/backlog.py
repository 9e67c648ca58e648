"""What is left to do: documents without results, failed ones, ones extracted with an older schema.

Queries of the instance and the failures table that the CLI, the nightly schedule and the
recovery tools turn into batched runs (``operations/recovery.py`` plans them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from upstage_assets.dagster_compat import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BulkActionStatus,
    materialized_partition_counts,
    partitions_without_materialization,
)
from upstage_assets.dagster_compat import PARTITION_NAME_TAG as PARTITION_TAG
from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS, KIE_FIELDS, VALIDATED_DOCUMENTS
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.defs.pipeline.resume import ONLY_DOCUMENTS_TAG
from upstage_assets.defs.pipeline.unstored_failures import current_failures
from upstage_assets.storage.failures import failed_ids_of, read_failures


def partition_order(instance: DagsterInstance) -> list[str]:
    return list(instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME))


def add_partitions(instance: DagsterInstance, keys: Iterable[str], existing: Iterable[str] | None = None) -> list[str]:
    """Add the keys that are not partitions yet (in the given order); return the new ones.
    ``existing``: the partitions, if the caller just read them."""
    existing = set(partition_order(instance) if existing is None else existing)
    new = [k for k in dict.fromkeys(keys) if k not in existing]
    if new:
        instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, new)
    return new


def stage_done_counts(instance: DagsterInstance, order: Sequence[str] | None = None) -> dict[str, int]:
    """Per document asset: how many of the partitions it has materialized. Counted by the event
    log's database where it is SQL (``dagster_compat``: no key leaves the database), else from the
    full sets; the same numbers either way. ``order``: the partitions, if the caller has them."""
    counts = materialized_partition_counts(instance, DOCUMENT_ASSET_KEYS, DOCUMENTS_PARTITIONS_NAME)
    if counts is None:
        partitions = set(partition_order(instance) if order is None else order)
        counts = {key: len(instance.get_materialized_partitions(key) & partitions) for key in DOCUMENT_ASSET_KEYS}
    return {key.to_user_string(): counts[key] for key in DOCUMENT_ASSET_KEYS}


def unvalidated_partitions(instance: DagsterInstance, order: Sequence[str] | None = None) -> list[str]:
    """Partitions without a ``validated_documents`` materialization, in partition order: asked of the
    event log's database where it is SQL (only these keys come back), else from the full sets."""
    found = partitions_without_materialization(instance, VALIDATED_DOCUMENTS, DOCUMENTS_PARTITIONS_NAME)
    if found is not None:
        return found
    order = partition_order(instance) if order is None else order
    done = instance.get_materialized_partitions(VALIDATED_DOCUMENTS)
    return [k for k in order if k not in done]


def missing_documents(instance: DagsterInstance, storage: Any = None, *, order: Sequence[str] | None = None,
                      done: AbstractSet[str] | None = None, unvalidated: Sequence[str] | None = None) -> list[str]:
    """Documents without a ``validated_documents`` materialization, in partition order.

    With ``storage`` (the StorageResource), registered documents that never became a partition
    (a sensor that died between registering and adding) are included at the end; the registry's
    ids come from its summary (``storage/summaries.py``), not a listing. ``order`` (the
    partitions), ``done`` (validated partitions) or ``unvalidated`` (``unvalidated_partitions``)
    save a caller that has them the queries.
    """
    if unvalidated is not None:
        missing = list(unvalidated)
    elif done is None:
        missing = unvalidated_partitions(instance, order)
    else:
        order = partition_order(instance) if order is None else order
        missing = [k for k in order if k not in done]
    if storage is not None:
        order = partition_order(instance) if order is None else order
        known = set(order)
        missing += sorted(d for d in storage.registry().registered_ids() if d not in known)
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


def documents_in_flight(instance: DagsterInstance, order: Sequence[str] | None = None) -> set[str]:
    """Documents that a queued or running run, or a backfill in progress, may still process."""
    order = partition_order(instance) if order is None else order
    index = {key: i for i, key in enumerate(order)}
    covered: set[str] = set()
    for run in instance.get_runs(filters=RunsFilter(statuses=ACTIVE_RUN_STATUSES)):
        covered |= _run_documents(run.tags, order, index)
    return covered | _backfill_documents(instance)


def unfinished_documents(instance: DagsterInstance, storage: Any, *, order: Sequence[str] | None = None,
                         done: AbstractSet[str] | None = None, failed: Iterable[str] | None = None,
                         unvalidated: Sequence[str] | None = None) -> list[str]:
    """Documents in limbo: no ``validated_documents``, no recorded failure, and nothing processing them.

    A run that ended (succeeded, failed, canceled, or died) without finishing a document and
    without recording its failure leaves it here: a crash outside the per-document boundary, a
    killed worker, a canceled run. ``retry-failed`` processes them, resuming at the stage reached.
    ``order``, ``done``, ``failed`` (ids) and ``unvalidated`` save a caller that has them the queries.
    """
    order = partition_order(instance) if order is None else order
    failed = set(failed_documents(storage, instance=instance) if failed is None else failed)
    missing = [d for d in missing_documents(instance, storage, order=order, done=done, unvalidated=unvalidated)
               if d not in failed]
    if not missing:
        return []
    busy = documents_in_flight(instance, order)
    return [d for d in missing if d not in busy]


def failure_rows(storage: Any, instance: DagsterInstance | None = None) -> list[dict[str, Any]]:
    """The latest failure of each failed document: the ``document_failures`` table, and with
    ``instance`` the records a full store refused, kept in run tags (``unstored_failures.py``)."""
    return current_failures(read_failures(storage.output_store(), storage.layout).to_pylist(), instance)


def failed_documents(storage: Any, *, retryable_only: bool = False, permanent_only: bool = False,
                     instance: DagsterInstance | None = None) -> list[str]:
    """Documents whose latest attempt failed in a stage (``failure_rows``), optionally
    only those whose error may pass on a retry, or only the permanent ones (encrypted, empty,
    unsupported, corrupt: the same bytes fail the same way). Sources refused at registration are
    left out: they are not partitions, and are retried by registering the fixed file."""
    return failed_ids_of(failure_rows(storage, instance), retryable_only=retryable_only,
                         permanent_only=permanent_only)
