"""Commit validation results to the Delta tables: MERGE keyed on ``document_id``, in batches.

A batch of documents becomes, per schema, up to three Delta commits, in an order chosen so a
reader never sees a document twice in one table and never loses it from both:

1. ``quarantine/<schema>``: upsert the batch's quarantined rows;
2. ``tables/<schema>``: upsert the validated rows and delete the rows of documents now quarantined;
3. ``quarantine/<schema>``: delete the rows of documents now validated.

Between commits a document that moved may briefly be in both tables (never in neither). One
table with a status column would make the move atomic but would hand every external reader
(DuckDB, Polars, Athena) quarantine rows with empty typed columns unless it filters; two
tables keep ``tables/<schema>`` exactly "the validated documents".

Every MERGE reads the target's data files (document ids are hashes, so no file's statistics rule it
out), and each commit adds one: left alone, a table that grows a few documents per commit makes each
commit slower than the one before (10,000 documents in commits of 8: over 1,000 files, a MERGE of 8
rows taking a second instead of a tenth). So a commit that leaves ``compact_at_small_files`` small
files in its table compacts them into few (Delta's ``optimize``; the rows and readers' versions are
untouched), which keeps every MERGE's work bounded by the table's size, not its history. The weekly
maintenance (``operations/compaction.py``) still makes the large files, vacuums and checkpoints.

Two compactions of the same files must not both commit (delta-rs lets them, and the rows are then in
the table twice), so a compaction runs only under the table's compaction lease
(``storage/compaction_lease.py``); a commit that finds it held leaves the compaction to its holder.

A row replaces the stored one only if it is at least as new (``processed_at``), so two runs
committing the same document out of order keep the newest. A commit that loses a race with a
concurrent run (``CommitFailedError``) is re-run on the new table version (MERGE is idempotent), with
jittered backoff, for up to ``COMMIT_PATIENCE_S``.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from upstage_assets.storage.compaction_lease import CompactionBusy, compaction_lease
from upstage_assets.storage.delta import TableLocation, table_location
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore

DROP = "_upstage_drop"  # a source-only flag column: "delete the target row"
# A commit that loses races goes on retrying for this long, not for a count of attempts: with four run
# workers committing to one table on a saturated host, each MERGE took long enough for another to land
# during it, and 12 attempts (about 10 s of backoff) failed 12 of 10,000 documents (bench, stop 41).
COMMIT_PATIENCE_S = 300.0
MAX_COMMIT_BACKOFF_S = 4.0
COMPACT_AT_SMALL_FILES = 64  # small files in a table at which a commit compacts them (0: never)
SMALL_FILE_BYTES = 16 * 1024 * 1024  # files under this are small; compaction writes files up to it


class TableCommitFailed(RuntimeError):
    """The commit still conflicted (or failed) after every retry."""


@dataclass(frozen=True)
class TableRow:
    """One document's validation result, waiting to be committed."""

    document_id: str
    schema: str
    table: pa.Table  # one row: the validated table's schema, or the quarantine schema
    quarantined: bool


@dataclass
class CommitReport:
    """What a batch commit did: Delta versions written per table URI, rows per table, retries."""

    versions: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    conflicts_retried: int = 0
    compacted: dict[str, tuple[int, int]] = field(default_factory=dict)  # table URI: (files removed, added)
    compaction_errors: dict[str, str] = field(default_factory=dict)  # table URI: why it was left as it was


def _open(location: TableLocation):
    from deltalake import DeltaTable

    return DeltaTable(location.uri, storage_options=location.storage_options or None)


def _ensure_table(location: TableLocation, schema: pa.Schema, name: str) -> None:
    """Create the table if missing; a concurrent creator winning the race is fine."""
    from deltalake import DeltaTable

    if location.exists():
        return
    try:
        DeltaTable.create(location.uri, schema=schema, mode="ignore", name=name,
                          storage_options=location.storage_options or None)
    except Exception:
        if not location.exists():
            raise


class DeltaTableWriter:
    """MERGEs batches of rows into ``tables/`` and ``quarantine/`` of one store."""

    def __init__(self, store: ObjectStore, layout: OutputLayout, *,
                 sleep: Callable[[float], None] = time.sleep, compact_at_small_files: int = COMPACT_AT_SMALL_FILES,
                 small_file_bytes: int = SMALL_FILE_BYTES, patience_s: float = COMMIT_PATIENCE_S,
                 clock: Callable[[], float] = time.monotonic):
        self.store, self.layout = store, layout
        self._sleep = sleep
        self.patience_s, self._clock = patience_s, clock
        self.compact_at_small_files, self.small_file_bytes = compact_at_small_files, small_file_bytes

    def location(self, area: str, schema: str) -> TableLocation:
        return table_location(self.store, area, schema)

    def commit(self, rows: list[TableRow]) -> CommitReport:
        """Commit every row (newest per document wins); raises ``TableCommitFailed`` if it cannot."""
        report = CommitReport()
        for schema in sorted({r.schema for r in rows}):
            mine = list({r.document_id: r for r in rows if r.schema == schema}.values())
            quarantined = [r for r in mine if r.quarantined]
            validated = [r for r in mine if not r.quarantined]
            quarantine = self.location(self.layout.quarantine, schema)
            if quarantined:
                self._upsert(quarantine, self.layout.quarantine, schema, quarantined, [], report)
            if validated or quarantined:
                target = self.location(self.layout.tables, schema)
                if validated or target.exists():
                    self._upsert(target, self.layout.tables, schema, validated, quarantined, report)
            if validated:
                self._delete(quarantine, validated, report)
        return report

    def _retrying(self, what: str, attempt_once: Callable[[], int | None], report: CommitReport) -> int | None:
        from deltalake.exceptions import CommitFailedError

        deadline = self._clock() + self.patience_s
        for attempt in itertools.count(1):
            try:
                return attempt_once()
            except CommitFailedError as exc:
                delay = min(MAX_COMMIT_BACKOFF_S, 0.02 * 2 ** min(attempt, 16)) * random.uniform(0.5, 1.0)
                if self._clock() + delay > deadline:
                    raise TableCommitFailed(f"{what}: still conflicting after {attempt} attempts "
                                            f"({self.patience_s:g} s): {exc}") from exc
                report.conflicts_retried += 1
                self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _upsert(self, location: TableLocation, area: str, schema: str, rows: list[TableRow],
                drops: list[TableRow], report: CommitReport) -> None:
        """One MERGE into ``location`` (the table ``area/schema``): insert/update ``rows``; delete the
        target rows of ``drops`` (if not newer)."""
        source = pa.concat_tables([r.table for r in rows], promote_options="permissive") if rows else None
        if source is None:
            target_schema = _open(location).schema().to_arrow()
            source = pa.Table.from_pylist([], schema=pa.schema(target_schema))  # type: ignore[arg-type]
        columns = {name: source.column(name).type for name in source.column_names}
        flags = [False] * source.num_rows
        if drops:
            drop_rows: dict[str, list[object]] = {name: [None] * len(drops) for name in source.column_names}
            drop_rows["document_id"] = [d.document_id for d in drops]
            drop_rows["processed_at"] = [d.table.column("processed_at")[0].as_py() for d in drops]
            source = pa.concat_tables([source, pa.Table.from_pydict(drop_rows, schema=source.schema)])
            flags += [True] * len(drops)
        source = source.append_column(DROP, pa.array(flags, pa.bool_()))
        if rows:
            _ensure_table(location, pa.schema([pa.field(n, t, nullable=n != "document_id")
                                               for n, t in columns.items()]), schema)

        compacting = self.compact_at_small_files > 0
        small_files = 0

        def attempt() -> int:
            nonlocal small_files
            table = _open(location)
            (table.merge(source, "t.document_id = s.document_id", source_alias="s", target_alias="t",
                         merge_schema=True)
             .when_matched_delete(predicate=f"s.{DROP} AND s.processed_at >= t.processed_at")
             .when_matched_update_all(predicate=f"NOT s.{DROP} AND s.processed_at >= t.processed_at",
                                      except_cols=[DROP])
             .when_not_matched_insert_all(predicate=f"NOT s.{DROP}", except_cols=[DROP])
             .execute())
            if compacting:
                small_files = self._small_files(table)
            return table.version()

        version = self._retrying(f"merge into {location.uri}", attempt, report)
        if version is not None:
            report.versions[location.uri] = version
            report.rows[location.uri] = len(rows)
            if compacting and small_files >= self.compact_at_small_files:
                self._compact(location, area, schema, report)

    def _small_files(self, table) -> int:  # type: ignore[no-untyped-def]
        sizes = table.get_add_actions().column("size_bytes").to_pylist()
        return sum(1 for size in sizes if size < self.small_file_bytes)

    def _compact(self, location: TableLocation, area: str, schema: str, report: CommitReport) -> None:
        """Rewrite the table's small files into few. The rows are committed already, so this never
        fails the commit: a compaction running elsewhere, or a concurrent commit that changed those
        files first, wins (the next commit here tries again), and any other error is reported and
        left to the weekly maintenance."""
        from deltalake.exceptions import CommitFailedError

        try:
            with compaction_lease(self.store, area, schema):
                metrics = _open(location).optimize.compact(target_size=self.small_file_bytes)
        except (CommitFailedError, CompactionBusy):
            return
        except Exception as exc:
            report.compaction_errors[location.uri] = f"{type(exc).__name__}: {exc}"
            return
        report.compacted[location.uri] = (int(metrics.get("numFilesRemoved", 0)), int(metrics.get("numFilesAdded", 0)))

    def _delete(self, location: TableLocation, newer: list[TableRow], report: CommitReport) -> None:
        """Delete the rows of documents that have a newer row elsewhere (a MERGE that only deletes:
        no commit at all when none of them is there)."""
        if not location.exists():
            return
        source = pa.table({"document_id": pa.array([r.document_id for r in newer], pa.string()),
                           "processed_at": pa.array([r.table.column("processed_at")[0].as_py() for r in newer],
                                                    pa.timestamp("us", tz="UTC"))})

        def attempt() -> int | None:
            table = _open(location)
            before = table.version()
            metrics = (table.merge(source, "t.document_id = s.document_id", source_alias="s", target_alias="t")
                       .when_matched_delete(predicate="s.processed_at >= t.processed_at").execute())
            return table.version() if metrics.get("num_target_rows_deleted") and table.version() != before else None

        version = self._retrying(f"delete from {location.uri}", attempt, report)
        if version is not None:
            report.versions[location.uri] = version
