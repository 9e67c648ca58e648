"""The ``document_failures`` table: the latest error of each document that failed.

One Parquet file per document under ``failures/``; a later success deletes it, so the
folder always reads as "what is broken now", and ``reprocess failed`` knows what to retry.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from upstage_assets.errors import DocumentError
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
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
    return store.write_bytes(layout.failure_key(row["document_id"]), buffer.getvalue())


def record_failure(store: ObjectStore, layout: OutputLayout, *, document_id: str, source_uri: str | None,
                   stage: str, error: DocumentError, run_id: str) -> str:
    return store_failure_row(store, layout, failure_row(document_id=document_id, source_uri=source_uri,
                                                        stage=stage, error=error, run_id=run_id))


def clear_failure(store: ObjectStore, layout: OutputLayout, document_id: str) -> None:
    store.delete(layout.failure_key(document_id))


READ_THREADS = 8  # records are fetched side by side (on S3 each is a GET)


def _read_failure(store: ObjectStore, key: str) -> pa.Table | None:
    try:
        table = pq.ParquetFile(io.BytesIO(store.read_bytes(key))).read()
        return table if table.schema.equals(FAILURES_SCHEMA) else table.cast(FAILURES_SCHEMA)
    except Exception as exc:  # a torn or foreign file: the others still count
        logger.warning("skipping unreadable failure record %s: %s", key, type(exc).__name__)
        return None


def read_failures(store: ObjectStore, layout: OutputLayout) -> pa.Table:
    """Every failure record; one that cannot be read is logged and left out, never fatal."""
    from concurrent.futures import ThreadPoolExecutor

    keys = [info.key for info in store.list(layout.failures) if info.key.endswith(".parquet")]
    with ThreadPoolExecutor(READ_THREADS) as pool:
        tables = [t for t in pool.map(lambda key: _read_failure(store, key), keys) if t is not None]
    return pa.concat_tables(tables) if tables else FAILURES_SCHEMA.empty_table()


def failed_ids_of(rows: Iterable[dict[str, Any]], *, retryable_only: bool = False,
                  permanent_only: bool = False) -> list[str]:
    """Documents whose latest attempt failed in a pipeline stage, of failure rows (this table's, and
    any kept elsewhere): what a re-run can retry (``retryable_only``), or what only a fixed file can
    cure (``permanent_only``)."""
    return sorted({r["document_id"] for r in rows
                   if r["stage"] not in SOURCE_STAGES and (not retryable_only or r["retryable"])
                   and (not permanent_only or not r["retryable"])})
