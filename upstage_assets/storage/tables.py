"""The one reader of the result tables: the current version of each Delta table.

Every reader of ``tables/`` and ``quarantine/`` (the table IO manager, the exporters, the
quality report, reporting, the S3 dataset helper, ``upstage-assets query``) calls
``read_tables`` or ``table_dataset``. A Delta table holds one row per document by
construction (the pipeline MERGEs on ``document_id``, see ``table_writer.py``), and a read
sees one committed version: no de-duplication, no half-compacted state.

Reads scan the version's files whole and filter in memory: delta-rs 1.6's MERGE writes string
columns as Arrow ``string_view`` in the files' stored schema, and pyarrow 26 has no comparison
kernels for it, so any string filter pushed into a ``pyarrow.dataset`` scan fails until
``optimize`` rewrites the files (which it does with plain strings).

A folder still holding the old one-file-per-document Parquet layout is not read (it would
need the old de-duplication): it is reported to ``on_unreadable`` with the command that
converts it, ``upstage-assets migrate-tables``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from upstage_assets.storage.delta import TableLocation, legacy_files, table_location, table_names
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore

if TYPE_CHECKING:  # imported where a dataset is made: pyarrow.dataset loads pandas, a second of every start
    import pyarrow.dataset as ds

MIGRATE_HINT = "old one-file-per-document Parquet layout: run `upstage-assets migrate-tables`"


class LegacyTableLayout(RuntimeError):
    """A table folder written the old way, not yet migrated to Delta."""


def open_delta(location: TableLocation, version: int | None = None) -> Any:
    from deltalake import DeltaTable

    return DeltaTable(location.uri, version=version, storage_options=location.storage_options or None)


def table_dataset(store: ObjectStore, area: str, schema: str, version: int | None = None) -> ds.Dataset:
    """One table's current (or given) version as a ``pyarrow.dataset`` (scan it without string filters)."""
    return open_delta(table_location(store, area, schema), version).to_pyarrow_dataset()


def read_table(store: ObjectStore, area: str, schema: str, *, documents: Iterable[str] | None = None,
               version: int | None = None) -> pa.Table:
    """One table's current (or given) version as an Arrow table, optionally only some documents."""
    table = table_dataset(store, area, schema, version).to_table()
    if documents is not None:
        wanted = pa.array(sorted(set(documents)), pa.string())
        table = table.filter(pc.is_in(table.column("document_id"), value_set=wanted))
    return table


def row_count(store: ObjectStore, area: str, schema: str) -> int:
    """Rows in one table's current version from the Delta log's per-file statistics
    (``numRecords``), not the rows; a file written without statistics, or a table with deletion
    vectors (delta-rs writes neither), makes it count the rows."""
    table = open_delta(table_location(store, area, schema))
    counts = table.get_add_actions().column("num_records").to_pylist()
    deletion_vectors = "deletionVectors" in (table.protocol().reader_features or [])  # rows hidden per file
    if deletion_vectors or any(value is None for value in counts):
        return int(table.to_pyarrow_dataset().count_rows())
    return int(sum(counts))


def row_counts(store: ObjectStore, area: str) -> dict[str, int]:
    """``{schema: rows}`` of every Delta table under ``area``, from the log (see ``row_count``)."""
    return {name: row_count(store, area, name) for name in table_names(store, area)}


def _legacy_folders(store: ObjectStore, area: str, delta: set[str]) -> list[str]:
    return [name for name in store.folders(area) if name not in delta and legacy_files(store, area, name)]


def read_tables(store: ObjectStore, layout: OutputLayout, *, area: str | None = None,
                schemas: Iterable[str] | None = None, documents: Iterable[str] | None = None,
                on_unreadable: Callable[[str, str], None] | None = None) -> dict[str, pa.Table]:
    """``{schema: table}`` under ``area`` (default ``tables``), one row per document.

    ``schemas`` and ``documents`` narrow what is returned. An un-migrated folder goes to
    ``on_unreadable(folder, reason)``; without it, ``LegacyTableLayout`` is raised.
    """
    area = area or layout.tables
    wanted_schemas = set(schemas or ())
    names = table_names(store, area)
    for name in _legacy_folders(store, area, set(names)):
        if wanted_schemas and name not in wanted_schemas:
            continue
        if on_unreadable is None:
            raise LegacyTableLayout(f"{area}/{name}: {MIGRATE_HINT}")
        on_unreadable(f"{area}/{name}", MIGRATE_HINT)
    wanted = list(documents) if documents is not None else None
    return {name: read_table(store, area, name, documents=wanted) for name in names
            if not wanted_schemas or name in wanted_schemas}
