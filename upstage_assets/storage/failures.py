"""The ``document_failures`` table: the latest error of each document that failed.

One Parquet file per document under ``failures/``; a later success deletes it, so the
folder always reads as "what is broken now", and ``reprocess failed`` knows what to retry.

The records are written and deleted through ``summaries.write_tracked``/``delete_tracked`` (a
change marker around each), so ``compact_failures`` can fold them into one Parquet part and a
reader takes that part plus the records changed since (the protocol of ``storage/summaries.py``):
``status`` reads one file and the few changed records, not one record per failed document.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from upstage_assets.errors import DocumentError
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.summaries import (
    GRACE_S,
    READ_ATTEMPTS,
    SummaryCompaction,
    SummaryKind,
    SummaryRaced,
    begin_fold,
    changed_files,
    delete_tracked,
    file_keys,
    finish_fold,
    read_pointer,
    summary_base,
    write_tracked,
)
from upstage_assets.unicode_text import valid_text

logger = logging.getLogger(__name__)

FAILURES_SCHEMA = pa.schema([
    pa.field("document_id", pa.string(), nullable=False),
    pa.field("source_uri", pa.string()),
    pa.field("stage", pa.string()),
    pa.field("error_code", pa.string()),
    pa.field("error_class", pa.string()),
    pa.field("message", pa.string()),
    pa.field("retryable", pa.bool_()),
    pa.field("run_id", pa.string()),
    pa.field("failed_at", pa.timestamp("us", tz="UTC")),
])


# Stages that refuse a source before it is registered: such a failure has no partition to re-run
# (its id comes from the URI, see ``failure_id_for_source``); fixing the file re-registers it.
SOURCE_STAGES = frozenset({"inbox", "manifest"})


def failure_row(*, document_id: str, source_uri: str | None, stage: str, error: DocumentError,
                run_id: str) -> dict[str, Any]:
    """One row of the table (``FAILURES_SCHEMA``'s fields), failed now."""
    return {"document_id": document_id, "source_uri": valid_text(source_uri) if source_uri else source_uri,
            "stage": stage, **error.as_record(), "run_id": run_id, "failed_at": datetime.now(UTC)}


def store_failure_row(store: ObjectStore, layout: OutputLayout, row: dict[str, Any]) -> str:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([row], schema=FAILURES_SCHEMA), buffer)
    return write_tracked(store, layout, layout.failure_key(row["document_id"]), buffer.getvalue())


def record_failure(store: ObjectStore, layout: OutputLayout, *, document_id: str, source_uri: str | None,
                   stage: str, error: DocumentError, run_id: str) -> str:
    return store_failure_row(store, layout, failure_row(document_id=document_id, source_uri=source_uri,
                                                        stage=stage, error=error, run_id=run_id))


def clear_failure(store: ObjectStore, layout: OutputLayout, document_id: str) -> None:
    """Delete the document's record if it has one (every success calls this: most have none, and
    those cost one existence check, no change marker)."""
    key = layout.failure_key(document_id)
    if store.exists(key):
        delete_tracked(store, layout, key)


READ_THREADS = 8  # records are fetched side by side (on S3 each is a GET)


def _read_failure(store: ObjectStore, key: str) -> pa.Table | None:
    try:
        table = pq.ParquetFile(io.BytesIO(store.read_bytes(key))).read()
        return table if table.schema.equals(FAILURES_SCHEMA) else table.cast(FAILURES_SCHEMA)
    except Exception as exc:  # a torn or foreign file: the others still count
        logger.warning("skipping unreadable failure record %s: %s", key, type(exc).__name__)
        return None


FAILURES = SummaryKind("failures", lambda layout: layout.failures, (), None, suffix=".parquet")
KEY = "key"  # the part's extra column: the record's object key


def _read_records(store: ObjectStore, keys: list[str], *, listed: bool) -> list[tuple[str, pa.Table]]:
    """The records at ``keys``; unless just ``listed``, one that is gone (deleted) is skipped silently."""
    from concurrent.futures import ThreadPoolExecutor

    def read(key: str) -> tuple[str, pa.Table | None]:
        return key, _read_failure(store, key) if listed or store.exists(key) else None

    with ThreadPoolExecutor(READ_THREADS) as pool:
        tables = pool.map(read, keys)
        return [(key, table) for key, table in tables if table is not None]


def _records_table(records: list[tuple[str, pa.Table]]) -> pa.Table:
    """The records with their keys (a part's layout)."""
    tables = [t.append_column(KEY, pa.array([key] * t.num_rows, pa.string())) for key, t in records]
    return pa.concat_tables(tables) if tables else FAILURES_SCHEMA.empty_table().append_column(
        KEY, pa.array([], pa.string()))


def _scan(store: ObjectStore, layout: OutputLayout) -> pa.Table:
    """Every record read now: the truth the summary must always equal."""
    return _records_table(_read_records(store, file_keys(store, layout, FAILURES), listed=True))


def _read_part(store: ObjectStore, layout: OutputLayout, pointer: dict[str, Any]) -> pa.Table:
    return pq.read_table(io.BytesIO(store.read_bytes(f"{summary_base(layout, FAILURES)}/{pointer['part']}")))


def _topped_up(store: ObjectStore, layout: OutputLayout, part: pa.Table, changed: Iterable[str]) -> pa.Table:
    import pyarrow.compute as pc

    changed = sorted(changed)
    if not changed:
        return part
    kept = part.filter(pc.invert(pc.is_in(part.column(KEY), value_set=pa.array(changed, pa.string()))))
    return pa.concat_tables([kept, _records_table(_read_records(store, changed, listed=False))])


def read_failures(store: ObjectStore, layout: OutputLayout) -> pa.Table:
    """Every failure record; one that cannot be read is logged and left out, never fatal.

    From the last ``compact_failures`` part topped up by the records changed since (a scan of
    every record before the first fold); equal to a scan either way."""
    for _ in range(READ_ATTEMPTS):
        raw_pointer = read_pointer(store, layout, FAILURES)
        if raw_pointer is None:
            return _scan(store, layout).drop_columns([KEY])
        changed = changed_files(store, layout, FAILURES)
        try:
            table = _topped_up(store, layout, _read_part(store, layout, json.loads(raw_pointer)), changed)
        except FileNotFoundError:
            continue  # the part was replaced and cleaned up meanwhile: read the new one
        if read_pointer(store, layout, FAILURES) == raw_pointer:
            return table.sort_by(KEY).drop_columns([KEY])  # in key order, as a scan lists them
    raise SummaryRaced("the failures summary kept changing while it was read")


def compact_failures(store: ObjectStore, layout: OutputLayout, *, grace_s: float = GRACE_S,
                     rescan: bool = False) -> SummaryCompaction:
    """Fold the failure records changed since the last fold (all of them the first time, or with
    ``rescan``) into a new part: ``summaries.compact_summary``'s steps, with rows for figures."""
    fold = begin_fold(store, layout, FAILURES)
    report = SummaryCompaction(FAILURES.name)
    if fold.scans or rescan:
        table = _scan(store, layout)
        report.files_read = table.num_rows
    else:
        table = _topped_up(store, layout, _read_part(store, layout, fold.previous), fold.changed)
        report.files_read = len(fold.changed)
    buffer = io.BytesIO()
    pq.write_table(table.sort_by(KEY), buffer)
    return finish_fold(store, layout, fold, buffer.getvalue(), table.num_rows, report, grace_s)


def failed_ids_of(rows: Iterable[dict[str, Any]], *, retryable_only: bool = False,
                  permanent_only: bool = False) -> list[str]:
    """Documents whose latest attempt failed in a pipeline stage, of failure rows (this table's, and
    any kept elsewhere): what a re-run can retry (``retryable_only``), or what only a fixed file can
    cure (``permanent_only``)."""
    return sorted({r["document_id"] for r in rows
                   if r["stage"] not in SOURCE_STAGES and (not retryable_only or r["retryable"])
                   and (not permanent_only or not r["retryable"])})
