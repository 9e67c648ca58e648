"""Summaries of the per-document files (``storage/summaries.py``) always read as a full scan would.

The files stay the truth; a summary is a cache topped up by change markers. These tests drive
random interleavings of writes, overwrites, deletions and compactions, writes that race a
compaction, and crashes at every write of a compaction and of a tracked write, and compare
every reader's answer with a scan of the files at that moment.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime

import boto3
import pytest

from upstage_assets.storage.billing import (
    CLASSIFICATION,
    EXTRACTION,
    PARSE,
    ProductUsage,
    read_usage_totals,
    usage_totals_of,
    write_usage,
)
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore, ObjectStore, S3ObjectStore
from upstage_assets.storage.registry import DocumentRecord, DocumentRegistry
from upstage_assets.storage.summaries import (
    KINDS,
    PAGES,
    USAGE,
    SummaryRaced,
    compact_summaries,
    compact_summary,
    delete_tracked,
    read_summary,
    scan,
    store_now,
    totals_of,
    write_tracked,
)
from upstage_assets.storage.table_writer import DeltaTableWriter
from upstage_assets.storage.tables import read_tables, row_counts
from upstage_assets_tests.fixtures.moto import moto_server
from upstage_assets_tests.storage.rows import table_row

LAYOUT = OutputLayout()


def _doc(i: int) -> str:
    return f"{i:064x}"


def _write_one(store: ObjectStore, rng: random.Random, ids: int = 40) -> None:
    """One random write a pipeline or sensor makes: a bill, a page count, a registration, or a removal."""
    document_id = _doc(rng.randrange(ids))
    what = rng.randrange(4)
    if what == 0:
        write_usage(store, LAYOUT, document_id, ProductUsage(rng.choice((PARSE, EXTRACTION)), rng.randrange(1, 9),
                                                             rng.choice((0.01, 0.015, 0.04)), rng.randrange(2)))
    elif what == 1:
        write_tracked(store, LAYOUT, LAYOUT.raw_key(document_id),
                      json.dumps({"document_id": document_id, "page_count": rng.randrange(0, 30)}).encode())
    elif what == 2:
        DocumentRegistry(store, LAYOUT).put(DocumentRecord(document_id, f"/in/{document_id}.pdf", document_id, 10,
                                                           f"{document_id}.pdf", "invoice"))
    else:  # a file removed, or a record that cannot be read: it must stop counting
        key = rng.choice((LAYOUT.raw_key(document_id), LAYOUT.usage_key(PARSE, document_id)))
        if rng.random() < 0.3:
            write_tracked(store, LAYOUT, key, b"{not json")
        else:
            delete_tracked(store, LAYOUT, key)


def _assert_as_scanned(store: ObjectStore) -> None:
    for kind in KINDS:
        truth = scan(store, LAYOUT, kind)
        view = read_summary(store, LAYOUT, kind, with_keys=True)
        assert view.totals == totals_of(truth.values()), kind.name
        assert view.keys == set(truth), kind.name
    registry = DocumentRegistry(store, LAYOUT)
    assert registry.registered_ids() == set(registry.document_ids())
    assert registry.count() == len(registry.document_ids())


@pytest.mark.parametrize("seed", range(6))
def test_random_interleavings_of_writes_and_compactions_read_as_a_full_scan(tmp_path, seed):
    store = LocalObjectStore(tmp_path)
    rng = random.Random(seed)
    compactions = 0
    for _ in range(300):
        if rng.random() < 0.08:
            compact_summaries(store, LAYOUT, grace_s=rng.choice((0.0, 0.0, 3600.0)))
            compactions += 1
        else:
            _write_one(store, rng)
        if rng.random() < 0.2:
            _assert_as_scanned(store)
    _assert_as_scanned(store)
    assert compactions > 5


def _wait_for_the_store_clock_to_pass_the_markers(store: LocalObjectStore) -> None:
    """Markers are dated by the file system's clock, which ticks coarsely: a marker dated the very tick the
    fold starts is kept (it may have been written after the fold read its file), so a test that means
    "written before the fold" waits for the next tick. A test that counts a fold's writes waits too, or the count
    depends on the tick."""
    last = max(info.modified for info in store.list(LAYOUT.changes))
    while store_now(store, "clock-probe") <= last:
        time.sleep(0.001)


def test_a_compaction_leaves_only_the_markers_written_since_and_status_reads_just_those(tmp_path):
    store = LocalObjectStore(tmp_path)
    for i in range(30):
        write_usage(store, LAYOUT, _doc(i), ProductUsage(PARSE, 2, 0.01))
    _wait_for_the_store_clock_to_pass_the_markers(store)
    compact_summary(store, LAYOUT, USAGE, grace_s=0)
    assert not list(store.list(f"{LAYOUT.changes}/{LAYOUT.usage}")), "every folded marker is gone"
    write_usage(store, LAYOUT, _doc(3), ProductUsage(PARSE, 5, 0.01))  # an overwrite: a re-bill
    write_usage(store, LAYOUT, _doc(99), ProductUsage(EXTRACTION, 1, 0.04))
    view = read_summary(store, LAYOUT, USAGE)
    assert view.compacted and view.files_read == 2
    assert view.totals == {PARSE: {"pages_billed": 63, "cost_micro_usd": 630_000, "possibly_billed_twice": 0},
                           EXTRACTION: {"pages_billed": 1, "cost_micro_usd": 40_000, "possibly_billed_twice": 0}}
    usage = read_usage_totals(store, LAYOUT).as_dict()
    assert usage["pages_billed"] == {PARSE: 63, CLASSIFICATION: 0, EXTRACTION: 1} and usage["estimated_cost_usd"] == 0.67


def test_markers_younger_than_the_grace_stay_and_still_read_right(tmp_path):
    store = LocalObjectStore(tmp_path)
    for i in range(5):
        write_tracked(store, LAYOUT, LAYOUT.raw_key(_doc(i)), json.dumps({"page_count": 3}).encode())
    report = compact_summary(store, LAYOUT, PAGES, grace_s=3600)
    assert report.markers_deleted == 0 and len(list(store.list(f"{LAYOUT.changes}/{LAYOUT.raw}"))) == 5
    assert read_summary(store, LAYOUT, PAGES).totals == {"pages": {"pages": 15}}, "folded and marked: counted once"


class RacingStore(LocalObjectStore):
    """A store where another writer rewrites a file around the compaction's read of it."""

    def __init__(self, root, key: str, data: bytes, before_read: bool):
        super().__init__(root)
        self.key, self.data, self.before_read, self.armed = key, data, before_read, False

    def read_bytes(self, key: str) -> bytes:
        if self.armed and key == self.key and self.before_read:
            self.armed = False
            write_tracked(LocalObjectStore(self.root), LAYOUT, self.key, self.data)
        value = super().read_bytes(key)
        if self.armed and key == self.key:
            self.armed = False
            write_tracked(LocalObjectStore(self.root), LAYOUT, self.key, self.data)
        return value


@pytest.mark.parametrize("before_read", [True, False])
def test_a_write_racing_the_fold_is_never_lost(tmp_path, before_read):
    key = LAYOUT.raw_key(_doc(1))
    store = RacingStore(tmp_path, key, json.dumps({"page_count": 7}).encode(), before_read)
    write_tracked(store, LAYOUT, key, json.dumps({"page_count": 1}).encode())
    compact_summary(store, LAYOUT, PAGES, grace_s=0)
    write_tracked(store, LAYOUT, key, json.dumps({"page_count": 2}).encode())
    store.armed = True  # the next compaction reads the file while a run rewrites it
    compact_summary(store, LAYOUT, PAGES, grace_s=0)
    assert read_summary(store, LAYOUT, PAGES).totals == {"pages": {"pages": 7}}
    compact_summary(store, LAYOUT, PAGES, grace_s=0)
    assert read_summary(store, LAYOUT, PAGES).totals == {"pages": {"pages": 7}}


class Crash(Exception):
    pass


class CrashingStore(LocalObjectStore):
    """Dies (raises) at its ``crash_at``-th write or delete: a process killed mid-operation."""

    def __init__(self, root, crash_at: int):
        super().__init__(root)
        self.crash_at, self.mutations = crash_at, 0

    def _mutate(self) -> None:
        self.mutations += 1
        if self.mutations == self.crash_at:
            raise Crash()

    def write_bytes(self, key: str, data: bytes) -> str:
        self._mutate()
        return super().write_bytes(key, data)

    def delete(self, key: str) -> None:
        self._mutate()
        super().delete(key)


def _seed_files(store: ObjectStore, rng: random.Random) -> None:
    for _ in range(60):
        _write_one(store, rng, ids=15)


def test_a_crash_at_any_write_of_a_compaction_leaves_correct_totals(tmp_path):
    # Count the compaction's writes and deletes once, then crash at each of them in turn.
    probe = CrashingStore(tmp_path / "probe", crash_at=0)
    rng = random.Random(7)
    _seed_files(probe, rng)
    _wait_for_the_store_clock_to_pass_the_markers(probe)
    compact_summaries(probe, LAYOUT, grace_s=0)
    _seed_files(probe, rng)
    _wait_for_the_store_clock_to_pass_the_markers(probe)
    before = probe.mutations
    compact_summaries(probe, LAYOUT, grace_s=0)
    steps = probe.mutations - before
    assert steps > 10
    for crash_at in range(1, steps + 1):
        root = tmp_path / f"crash{crash_at}"
        store = CrashingStore(root, crash_at=0)
        rng = random.Random(7)
        _seed_files(store, rng)
        _wait_for_the_store_clock_to_pass_the_markers(store)
        compact_summaries(store, LAYOUT, grace_s=0)
        _seed_files(store, rng)
        _wait_for_the_store_clock_to_pass_the_markers(store)
        store.crash_at, store.mutations = crash_at, 0
        with pytest.raises(Crash):
            compact_summaries(store, LAYOUT, grace_s=0)
        plain = LocalObjectStore(root)
        _assert_as_scanned(plain)
        _write_one(plain, rng, ids=15)  # life goes on: more writes, the next compaction
        _assert_as_scanned(plain)
        compact_summaries(plain, LAYOUT, grace_s=0)
        _assert_as_scanned(plain)


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_crash_inside_a_tracked_write_leaves_correct_totals(tmp_path, crash_at):
    """Killed before the first marker, between marker and file, or between file and second marker."""
    key = LAYOUT.raw_key(_doc(4))
    plain = LocalObjectStore(tmp_path)
    write_tracked(plain, LAYOUT, key, json.dumps({"page_count": 1}).encode())
    compact_summary(plain, LAYOUT, PAGES, grace_s=0)
    store = CrashingStore(tmp_path, crash_at=crash_at)
    with pytest.raises(Crash):
        write_tracked(store, LAYOUT, key, json.dumps({"page_count": 9}).encode())
    _assert_as_scanned(plain)
    compact_summary(plain, LAYOUT, PAGES, grace_s=0)
    _assert_as_scanned(plain)
    expected = 1 if crash_at <= 2 else 9
    assert read_summary(plain, LAYOUT, PAGES).totals == {"pages": {"pages": expected}}


def test_a_compaction_that_loses_a_race_to_another_changes_nothing(tmp_path):
    store = LocalObjectStore(tmp_path)
    write_tracked(store, LAYOUT, LAYOUT.raw_key(_doc(1)), json.dumps({"page_count": 2}).encode())

    class Overtaken(LocalObjectStore):
        """Another compaction finishes while this one writes its part."""

        def write_bytes(self, key: str, data: bytes) -> str:
            uri = super().write_bytes(key, data)
            if "/part-" in key:
                compact_summary(LocalObjectStore(self.root), LAYOUT, PAGES, grace_s=0)
            return uri

    with pytest.raises(SummaryRaced):
        compact_summary(Overtaken(tmp_path), LAYOUT, PAGES, grace_s=0)
    _assert_as_scanned(store)


def test_before_any_compaction_readers_scan_every_file(tmp_path):
    store = LocalObjectStore(tmp_path)
    for i in range(4):
        DocumentRegistry(store, LAYOUT).put(DocumentRecord(_doc(i), "/in/x.pdf", _doc(i), 1, "x.pdf", "invoice"))
        store.write_bytes(LAYOUT.raw_key(_doc(i)), json.dumps({"page_count": 2}).encode())  # untracked, old style
    view = read_summary(store, LAYOUT, PAGES)
    assert not view.compacted and view.totals == {"pages": {"pages": 8}}
    compact_summaries(store, LAYOUT, grace_s=0)  # the first fold scans, so untracked files count too
    assert read_summary(store, LAYOUT, PAGES).totals == {"pages": {"pages": 8}}
    assert DocumentRegistry(store, LAYOUT).count() == 4


def test_a_file_removed_by_hand_counts_after_a_rescan(tmp_path):
    store = LocalObjectStore(tmp_path)
    for i in range(3):
        write_tracked(store, LAYOUT, LAYOUT.raw_key(_doc(i)), json.dumps({"page_count": 2}).encode())
    compact_summary(store, LAYOUT, PAGES, grace_s=0)
    store.delete(LAYOUT.raw_key(_doc(0)))  # no marker: outside the tracked writers
    compact_summary(store, LAYOUT, PAGES, grace_s=0, rescan=True)
    _assert_as_scanned(store)


def test_usage_totals_are_exact_in_micro_dollars(tmp_path):
    store = LocalObjectStore(tmp_path)
    for i in range(1000):
        write_usage(store, LAYOUT, _doc(i), ProductUsage(PARSE, 1, 0.01))
    compact_summaries(store, LAYOUT, grace_s=0)
    assert usage_totals_of(read_summary(store, LAYOUT, USAGE).totals).cost_usd[PARSE] == 10.0


def test_on_s3_the_summary_reads_as_a_full_scan():
    """Markers are dated by S3's LastModified (whole seconds), the store's own clock."""
    with moto_server() as url:
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                              aws_secret_access_key="x")
        client.create_bucket(Bucket="out")
        store = S3ObjectStore("s3://out/results", client)
        rng = random.Random(3)
        for step in range(120):
            if step % 25 == 24:
                compact_summaries(store, LAYOUT, grace_s=0)
            else:
                _write_one(store, rng, ids=20)
            if step % 10 == 0:
                _assert_as_scanned(store)
        compact_summaries(store, LAYOUT, grace_s=0)
        _assert_as_scanned(store)


def test_row_counts_come_from_the_delta_log_and_match_the_rows(tmp_path):
    store = LocalObjectStore(tmp_path)
    writer = DeltaTableWriter(store, LAYOUT)
    now = datetime.now(UTC)
    writer.commit([table_row(_doc(i), "10.5", now) for i in range(6)])
    writer.commit([table_row(_doc(i), "10.5", now, quarantine=True) for i in range(2)])  # moved: rows deleted
    writer.commit([table_row(_doc(i), "11.5", now) for i in range(5, 9)])  # updates and inserts
    for area in (LAYOUT.tables, LAYOUT.quarantine):
        assert row_counts(store, area) == {name: t.num_rows for name, t in read_tables(store, LAYOUT, area=area).items()}
    assert row_counts(store, LAYOUT.tables) == {"invoice": 7} and row_counts(store, LAYOUT.quarantine) == {"invoice": 2}
