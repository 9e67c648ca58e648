"""The compaction lease: why it exists (delta-rs lets two compactions both commit) and that it holds
across processes on a local folder (S3: ``s3/test_compaction_lease_s3.py``)."""

from __future__ import annotations

import os
import signal
from collections import Counter
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from upstage_assets.operations.compaction import compact_table
from upstage_assets.storage.compaction_lease import CompactionBusy, compaction_lease
from upstage_assets.storage.object_store import LocalObjectStore, ObjectStore
from upstage_assets.storage.table_writer import DeltaTableWriter
from upstage_assets.storage.tables import read_tables
from upstage_assets_tests.storage.lease_holder import AREA, TABLE, hold_in_another_process
from upstage_assets_tests.storage.rows import LAYOUT, SCHEMA, table_row

NOW_ROW = datetime.now(UTC)


def test_two_compactions_of_one_snapshot_both_commit_and_double_the_rows(tmp_path):
    """The delta-rs behaviour the lease exists for (1.6.6): their removes carry dataChange=false and
    the conflict checker lets the second through. If this starts failing, delta-rs refuses the second
    compaction itself, and the lease is a safeguard no longer needed."""
    path = str(tmp_path / "t")
    for i in range(4):
        write_deltalake(path, pa.table({"id": [f"d{i}"]}), mode="append")
    first, second = DeltaTable(path), DeltaTable(path)
    first.optimize.compact()
    write_deltalake(path, pa.table({"id": ["d9"]}), mode="append")  # any commit in between
    second.optimize.compact()
    counts = Counter(DeltaTable(path).to_pyarrow_table().column("id").to_pylist())
    assert counts == {"d0": 2, "d1": 2, "d2": 2, "d3": 2, "d9": 1}


def assert_exclusive_across_processes(store: ObjectStore, root: str, endpoint: str | None = None) -> None:
    process, release = hold_in_another_process(root, endpoint)
    try:
        with pytest.raises(CompactionBusy, match=rf"tables/invoice is being compacted by \S+:{process.pid}"):
            with compaction_lease(store, AREA, TABLE):
                pass
        with compaction_lease(store, AREA, "receipt"):
            pass  # one table's lease leaves the others free
    finally:
        release.set()
        process.join(timeout=60)
    with compaction_lease(store, AREA, TABLE):
        pass  # released when the holder left its block


def test_the_lease_is_exclusive_across_processes_on_a_local_folder(tmp_path):
    assert_exclusive_across_processes(LocalObjectStore(tmp_path), str(tmp_path))


def test_a_killed_holder_frees_a_local_lease(tmp_path):
    process, _ = hold_in_another_process(str(tmp_path))
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=60)
    with compaction_lease(LocalObjectStore(tmp_path), AREA, TABLE):
        pass


def test_a_waiting_compaction_goes_ahead_once_the_lease_is_released(tmp_path):
    store = LocalObjectStore(tmp_path)
    writer = DeltaTableWriter(store, LAYOUT, compact_at_small_files=0)
    for k in range(3):
        writer.commit([table_row(f"{k:016x}", "1", NOW_ROW)])
    process, release = hold_in_another_process(str(tmp_path))
    with pytest.raises(CompactionBusy):
        compact_table(store, LAYOUT.tables, SCHEMA.name, lease_wait_s=0.5, retention_hours=0)
    release.set()
    report = compact_table(store, LAYOUT.tables, SCHEMA.name, lease_wait_s=60, retention_hours=0)
    process.join(timeout=60)
    assert (report.files_before, report.files_after, report.rows) == (3, 1, 3)


def test_a_commit_leaves_the_compaction_to_the_lease_holder(tmp_path):
    """The commit itself stands; its compaction is skipped (the holder, or a later commit, does it)."""
    store = LocalObjectStore(tmp_path)
    writer = DeltaTableWriter(store, LAYOUT, compact_at_small_files=2)
    writer.commit([table_row(f"{1:016x}", "1", NOW_ROW)])
    process, release = hold_in_another_process(str(tmp_path))
    try:
        report = writer.commit([table_row(f"{2:016x}", "1", NOW_ROW)])
    finally:
        release.set()
        process.join(timeout=60)
    assert report.compacted == {} and report.compaction_errors == {}
    assert read_tables(store, LAYOUT)[SCHEMA.name].num_rows == 2
    assert writer.commit([table_row(f"{3:016x}", "1", NOW_ROW)]).compacted, "the next commit compacts"

