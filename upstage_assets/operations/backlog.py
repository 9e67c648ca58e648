"""What is left to do: documents without results, failed ones, ones extracted with an older schema.

Queries of the instance and the failures table that the CLI, the nightly schedule and the
recovery tools turn into batched runs (``operations/recovery.py`` plans them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dagster import DagsterInstance

from upstage_assets.defs.pipeline.keys import KIE_FIELDS, VALIDATED_DOCUMENTS
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.storage.failures import failed_partition_ids


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


def failed_documents(storage: Any, *, retryable_only: bool = False) -> list[str]:
    """Documents whose latest attempt failed in a stage (the ``document_failures`` table), optionally
    only those whose error may pass on a retry. Sources refused at registration are left out: they
    are not partitions, and are retried by registering the fixed file."""
    return failed_partition_ids(storage.output_store(), storage.layout, retryable_only=retryable_only)
