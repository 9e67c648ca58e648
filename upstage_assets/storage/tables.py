"""The one reader of the result tables: one row per document, the newest, quarantined ones removed.

Every reader of ``tables/`` and ``quarantine/`` (the Parquet IO manager, the exporters, the
quality report, reporting, the S3 dataset helper) calls ``read_tables``, so they all mean
the same thing by "the table". Only this module knows the physical format: one Parquet file
per document plus the ``part-*`` files compaction writes; a table format (Delta Lake) would
replace its internals and keep ``read_tables``'s signature.

A document may have several rows (a re-run, a compacted copy not yet cleaned up): the newest
by ``processed_at`` wins. In ``tables/``, a row older than the document's newest quarantine
row is dropped: the document was re-validated and quarantined since.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from upstage_assets.storage.layout import OutputLayout

PART_PREFIX = "part-"  # a compacted file holding many documents' rows


class Listed(Protocol):
    @property
    def key(self) -> str: ...


class TableFiles(Protocol):
    """What the reader needs of a store: list keys under a prefix, read one object."""

    def list(self, prefix: str = "") -> Iterator[Listed]: ...  # noqa: A003 - the ObjectStore's name

    def read_bytes(self, key: str) -> bytes: ...


def latest_rows(table: pa.Table, newer_elsewhere: dict[str, object] | None = None) -> pa.Table:
    """One row per document: the newest by ``processed_at``; drop rows older than ``newer_elsewhere[id]``."""
    if table.num_rows == 0 or "document_id" not in table.column_names:
        return table
    indexed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    timed = "processed_at" in table.column_names  # tables written by other tools may lack it: last row wins
    keys = [("document_id", "ascending"), *([("processed_at", "descending")] if timed else []), ("__row", "descending")]
    order = indexed.sort_by(keys)
    ids = order.column("document_id").to_pylist()
    times = order.column("processed_at").to_pylist() if timed else [None] * len(ids)
    keep = []
    for i, doc in enumerate(ids):
        if i and ids[i - 1] == doc:
            continue
        superseding = (newer_elsewhere or {}).get(doc)
        if superseding is not None and times[i] is not None and superseding > times[i]:  # type: ignore[operator]
            continue
        keep.append(order.column("__row")[i].as_py())
    return table.take(pa.array(sorted(keep), pa.int64()))


def _read(files: TableFiles, key: str, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(io.BytesIO(files.read_bytes(key)), columns=columns)


def latest_quarantine_times(files: TableFiles, layout: OutputLayout, schema: str) -> dict[str, object]:
    """Document -> its newest quarantine row's ``processed_at``."""
    latest: dict[str, object] = {}
    for info in files.list(f"{layout.quarantine}/{schema}"):
        if not info.key.endswith(".parquet"):
            continue
        table = _read(files, info.key, ["document_id", "processed_at"])
        for doc, when in zip(table.column("document_id").to_pylist(), table.column("processed_at").to_pylist(),
                             strict=True):
            if when is not None and (doc not in latest or when > latest[doc]):  # type: ignore[operator]
                latest[doc] = when
    return latest


def read_tables(files: TableFiles, layout: OutputLayout, *, area: str | None = None,
                schemas: Iterable[str] | None = None, documents: Iterable[str] | None = None,
                on_unreadable: Callable[[str, str], None] | None = None) -> dict[str, pa.Table]:
    """``{schema: table}`` under ``area`` (default ``tables``), one current row per document.

    ``schemas`` and ``documents`` narrow what is read (a partitioned input reads only its
    documents' files, plus the matching rows of compacted parts). A file that cannot be read as
    Parquet (torn, foreign) is passed to ``on_unreadable(key, reason)`` and skipped; without it, it raises.
    """
    area = area or layout.tables
    wanted_schemas = set(schemas or ())
    wanted = set(documents) if documents is not None else None
    parts: dict[str, list[pa.Table]] = {}
    for info in files.list(area):
        if not info.key.endswith(".parquet"):
            continue
        schema_name, _, filename = info.key[len(area) + 1:].rpartition("/")
        if not schema_name or (wanted_schemas and schema_name not in wanted_schemas):
            continue
        compacted = filename.startswith(PART_PREFIX)
        if wanted is not None and not compacted and filename[:-len(".parquet")] not in wanted:
            continue
        try:
            table = _read(files, info.key)
        except Exception as exc:
            if on_unreadable is None:
                raise
            on_unreadable(info.key, f"unreadable Parquet: {type(exc).__name__}")
            continue
        if wanted is not None and compacted:
            table = table.filter(pc.is_in(table.column("document_id"), pa.array(sorted(wanted), pa.string())))
        parts.setdefault(schema_name, []).append(table)
    result = {}
    for name, tables in sorted(parts.items()):
        superseded = latest_quarantine_times(files, layout, name) if area == layout.tables else {}
        result[name] = latest_rows(pa.concat_tables(tables, promote_options="permissive"), superseded)
    return result
