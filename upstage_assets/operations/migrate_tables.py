"""Convert table folders written the old way (one Parquet file per document) to Delta tables.

The old layout kept ``tables/<schema>/<id>.parquet`` and ``quarantine/<schema>/<id>.parquet``
plus ``part-*`` files from the old compaction; a document could have several rows and the
newest (``processed_at``) won, across both folders. The migration feeds every old row through
the same writer as the pipeline (``storage/table_writer.py``), oldest first, so the same rule
decides: the newest row per document, in the table its status says. Columns are cast to the
current schema of a built-in table (amounts become decimals). Only after the commit are the old
files deleted, so a crash midway loses nothing: running it again finishes the job.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from upstage_assets.schemas.arrow import QUARANTINE_SCHEMA, table_schema_for
from upstage_assets.schemas.extraction import BUILTIN_SCHEMAS, load_schema
from upstage_assets.storage.delta import legacy_files
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.table_writer import DeltaTableWriter, TableRow

ROWS_PER_COMMIT = 5_000


@dataclass
class MigrationReport:
    schema: str
    files: int = 0
    rows_read: int = 0
    documents: int = 0
    unreadable: list[str] = field(default_factory=list)


def _target_schema(area: str, layout: OutputLayout, schema: str) -> pa.Schema | None:
    if area == layout.quarantine:
        return QUARANTINE_SCHEMA
    return table_schema_for(load_schema(schema)) if schema in BUILTIN_SCHEMAS else None


def conform(table: pa.Table, target: pa.Schema | None) -> pa.Table:
    """The old rows in the current column types and order (missing columns become nulls)."""
    if target is None:
        return table
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
               else pa.nulls(table.num_rows, f.type) for f in target]
    extra = [n for n in table.column_names if n not in target.names]
    return pa.Table.from_arrays(columns + [table.column(n) for n in extra],
                                schema=pa.schema([pa.field(f.name, f.type, f.nullable) for f in target]
                                                 + [table.schema.field(n) for n in extra]))


def _read_old(store: ObjectStore, layout: OutputLayout, area: str, schema: str,
              report: MigrationReport) -> tuple[list[str], pa.Table | None]:
    keys = legacy_files(store, area, schema)
    tables = []
    for key in keys:
        try:
            tables.append(conform(pq.read_table(io.BytesIO(store.read_bytes(key))),
                                  _target_schema(area, layout, schema)))
        except Exception as exc:  # a torn or foreign file: left in place and reported
            report.unreadable.append(f"{key}: {type(exc).__name__}")
    readable = [k for k in keys if not any(u.startswith(f"{k}:") for u in report.unreadable)]
    report.files += len(readable)
    return readable, (pa.concat_tables(tables, promote_options="permissive") if tables else None)


def migrate_schema(store: ObjectStore, layout: OutputLayout, schema: str) -> MigrationReport:
    """Both areas of one schema: every old row through the writer, then the old files deleted."""
    report = MigrationReport(schema)
    rows: list[tuple[object, TableRow]] = []
    old_keys: list[str] = []
    for area, quarantined in ((layout.tables, False), (layout.quarantine, True)):
        keys, table = _read_old(store, layout, area, schema, report)
        old_keys += keys
        if table is None:
            continue
        report.rows_read += table.num_rows
        ids = table.column("document_id").to_pylist()
        # tables written by other tools may lack processed_at: then the last row read wins
        times = table.column("processed_at").to_pylist() if "processed_at" in table.column_names else [None] * len(ids)
        rows += [(times[i], TableRow(ids[i], schema, table.slice(i, 1), quarantined)) for i in range(table.num_rows)]
    rows.sort(key=lambda pair: (pair[0] is not None, pair[0]))  # oldest first (stable): the newest is kept
    newest = list({row.document_id: row for _, row in rows}.values())
    report.documents = len(newest)
    writer = DeltaTableWriter(store, layout)
    for start in range(0, len(newest), ROWS_PER_COMMIT):
        writer.commit(newest[start:start + ROWS_PER_COMMIT])
    for key in old_keys:
        store.delete(key)
    return report


def migrate_tables(store: ObjectStore, layout: OutputLayout | None = None) -> list[MigrationReport]:
    """Every schema folder under ``tables/`` or ``quarantine/`` that still holds old files."""
    layout = layout or OutputLayout()
    schemas = sorted({name for area in (layout.tables, layout.quarantine) for name in store.folders(area)
                      if legacy_files(store, area, name)})
    return [migrate_schema(store, layout, schema) for schema in schemas]


