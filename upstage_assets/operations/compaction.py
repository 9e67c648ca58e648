"""Weekly maintenance of the Delta tables: optimize (compact), vacuum, checkpoint.

Batch commits leave many small data files. ``optimize`` rewrites them into large ones in one
commit (readers keep reading the version they opened; the next version holds the same rows
in fewer files), ``vacuum`` deletes the files no version within the retention still names,
and a checkpoint plus log clean-up keeps opening a table to one Parquet read instead of
replaying every JSON commit. Runs and readers go on meanwhile: Delta's optimistic commits make
a compaction that raced a pipeline commit retry or give way (it never drops a row). Compactions
take turns through the table's compaction lease (``storage/compaction_lease.py``): two that ran at
once would both commit and leave every compacted row twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from upstage_assets.storage.compaction_lease import compaction_lease
from upstage_assets.storage.delta import table_location, table_names
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.tables import open_delta

DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024
DEFAULT_RETENTION_HOURS = 7 * 24  # a reader (or time travel) may use versions up to a week old
LEASE_WAIT_S = 15 * 60  # a commit-time compaction of the same table takes seconds
OPTIMIZE_ATTEMPTS = 5


@dataclass
class CompactionReport:
    table: str  # "<area>/<schema>"
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    files_vacuumed: int = 0
    version: int = 0


def compact_table(store: ObjectStore, area: str, schema: str, *,
                  target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES,
                  retention_hours: int = DEFAULT_RETENTION_HOURS, lease_wait_s: float = LEASE_WAIT_S
                  ) -> CompactionReport:
    """Optimize, vacuum and checkpoint one table, holding its compaction lease (waits up to
    ``lease_wait_s`` for it, then raises ``CompactionBusy``)."""
    with compaction_lease(store, area, schema, wait_s=lease_wait_s):
        return _maintain(store, area, schema, target_file_bytes, retention_hours)


def _maintain(store: ObjectStore, area: str, schema: str, target_file_bytes: int,
              retention_hours: int) -> CompactionReport:
    location = table_location(store, area, schema)
    report = CompactionReport(f"{area}/{schema}")
    table = open_delta(location)
    report.files_before = len(table.file_uris())
    _optimize(location, target_file_bytes)
    table = open_delta(location)
    removed = table.vacuum(retention_hours=retention_hours, dry_run=False,
                           enforce_retention_duration=retention_hours >= DEFAULT_RETENTION_HOURS)
    report.files_vacuumed = len(removed)
    table = open_delta(location)
    table.create_checkpoint()
    table.cleanup_metadata()
    report.files_after = len(table.file_uris())
    report.rows = int(table.count())
    report.version = table.version()
    return report


def _optimize(location, target_file_bytes: int) -> None:  # type: ignore[no-untyped-def]
    """Compact; a pipeline commit that touched the same files first wins, and this tries again."""
    from deltalake.exceptions import CommitFailedError

    for attempt in range(1, OPTIMIZE_ATTEMPTS + 1):
        try:
            open_delta(location).optimize.compact(target_size=target_file_bytes)
            return
        except CommitFailedError:
            if attempt == OPTIMIZE_ATTEMPTS:
                raise
            time.sleep(0.2 * attempt)


def compact_tables(store: ObjectStore, layout: OutputLayout | None = None, *,
                   target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES,
                   retention_hours: int = DEFAULT_RETENTION_HOURS) -> list[CompactionReport]:
    """Maintain every table under ``tables/`` and ``quarantine/``."""
    layout = layout or OutputLayout()
    return [compact_table(store, area, schema, target_file_bytes=target_file_bytes, retention_hours=retention_hours)
            for area in (layout.tables, layout.quarantine) for schema in table_names(store, area)]
