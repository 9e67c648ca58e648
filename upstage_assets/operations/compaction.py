"""Compaction of the validated tables: many one-row Parquet files into a few large parts.

The pipeline writes one file per document (atomic, independent writes); after a million
documents a table is a million tiny files, slow to list and read. Compaction rewrites the
small files of ``tables/<schema>/`` into ``part-*.parquet`` files, safely while runs go on:

1. every part is written whole (atomic write) before anything is deleted, so readers see
   each row at least once at every moment, never zero times;
2. a source file is deleted only if it is unchanged since it was read (a document re-run
   meanwhile keeps its newer file);
3. a document may therefore briefly have two rows; the one table reader
   (``storage/tables.py``) keeps the newest by ``processed_at``, and the next compaction
   drops the stale copy. Rows superseded by a newer quarantine row are dropped the same way.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectInfo, ObjectStore
from upstage_assets.storage.tables import PART_PREFIX, latest_quarantine_times, latest_rows

DEFAULT_SMALL_FILE_BYTES = 8 * 1024 * 1024
DEFAULT_ROWS_PER_PART = 100_000


@dataclass
class CompactionReport:
    schema: str
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    stale_rows_dropped: int = 0
    parts_written: list[str] = field(default_factory=list)
    kept_changed: list[str] = field(default_factory=list)  # sources rewritten meanwhile, left in place


def _read(store: ObjectStore, key: str, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(io.BytesIO(store.read_bytes(key)), columns=columns)


def schemas_with_tables(store: ObjectStore, layout: OutputLayout) -> list[str]:
    return sorted({i.key[len(layout.tables) + 1:].split("/", 1)[0] for i in store.list(layout.tables)
                   if i.key.endswith(".parquet")})


def compact_schema(store: ObjectStore, layout: OutputLayout, schema: str, *,
                   small_file_bytes: int = DEFAULT_SMALL_FILE_BYTES,
                   rows_per_part: int = DEFAULT_ROWS_PER_PART) -> CompactionReport:
    """Merge the small files (and any part holding stale rows) of one table into large parts."""
    report = CompactionReport(schema)
    files: list[ObjectInfo] = [i for i in store.list(f"{layout.tables}/{schema}") if i.key.endswith(".parquet")]
    report.files_before = len(files)
    quarantined_at = latest_quarantine_times(store, layout, schema)
    small = [f for f in files if f.size < small_file_bytes]
    large = [f for f in files if f.size >= small_file_bytes]
    tables = {f.key: _read(store, f.key) for f in small}
    # A large part must be rewritten too when a newer copy of one of its documents exists.
    newest: dict[str, object] = dict(quarantined_at)
    for table in tables.values():
        for doc, when in zip(table.column("document_id").to_pylist(), table.column("processed_at").to_pylist(),
                             strict=True):
            if when is not None and (doc not in newest or when > newest[doc]):  # type: ignore[operator]
                newest[doc] = when
    for f in large:
        ids_times = _read(store, f.key, ["document_id", "processed_at"])
        stale = any(newest.get(d) is not None and t is not None and newest[d] > t  # type: ignore[operator]
                    for d, t in zip(ids_times.column("document_id").to_pylist(),
                                    ids_times.column("processed_at").to_pylist(), strict=True))
        if stale:
            tables[f.key] = _read(store, f.key)
    report.files_after = report.files_before
    if not tables:
        return report
    merged = pa.concat_tables(list(tables.values()), promote_options="permissive")
    kept = latest_rows(merged, quarantined_at)
    if len(tables) == 1 and kept.num_rows == merged.num_rows:
        return report  # one file, nothing stale: already compact
    report.stale_rows_dropped = merged.num_rows - kept.num_rows
    kept = kept.take(pc.sort_indices(kept, [("document_id", "ascending")]))
    report.rows = kept.num_rows
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    batch = uuid.uuid4().hex[:8]
    for index, start in enumerate(range(0, kept.num_rows, rows_per_part)):
        buffer = io.BytesIO()
        pq.write_table(kept.slice(start, rows_per_part), buffer, compression="zstd")
        key = f"{layout.tables}/{schema}/{PART_PREFIX}{stamp}-{batch}-{index:05d}.parquet"
        store.write_bytes(key, buffer.getvalue())
        report.parts_written.append(key)
    versions_now = {i.key: i.version for i in store.list(f"{layout.tables}/{schema}")}
    read_versions = {f.key: f.version for f in files}
    for key in tables:
        if versions_now.get(key) == read_versions[key]:
            store.delete(key)
        elif key in versions_now:
            report.kept_changed.append(key)
    report.files_after = sum(1 for i in store.list(f"{layout.tables}/{schema}") if i.key.endswith(".parquet"))
    return report


def compact_tables(store: ObjectStore, layout: OutputLayout | None = None, **options: int) -> list[CompactionReport]:
    layout = layout or OutputLayout()
    return [compact_schema(store, layout, schema, **options) for schema in schemas_with_tables(store, layout)]
