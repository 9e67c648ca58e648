"""The failures summary (``storage/failures.py``): ``read_failures`` from the folded part plus the
records changed since must always equal a read of every record, whatever the interleaving."""

from __future__ import annotations

import random

import boto3
import pytest

from upstage_assets.errors import EncryptedDocument, SourceUnavailable
from upstage_assets.storage.failures import (
    FAILURES,
    KEY,
    _scan,
    clear_failure,
    compact_failures,
    read_failures,
    record_failure,
)
from upstage_assets.storage.folds import fold_summaries, pending_changes
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore, ObjectStore, S3ObjectStore
from upstage_assets.storage.summaries import SummaryRaced, changed_files, write_tracked
from upstage_assets_tests.fixtures.moto import moto_server
from upstage_assets_tests.storage.test_summaries import (
    Crash,
    CrashingStore,
    _wait_for_the_store_clock_to_pass_the_markers,
)

LAYOUT = OutputLayout()


def _doc(i: int) -> str:
    return f"{i:064x}"


def _rows(table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: r["document_id"])


def _truth(store: ObjectStore) -> list[dict]:
    """Every record read now, one by one (what ``read_failures`` did before the summary)."""
    return _rows(_scan(store, LAYOUT).drop_columns([KEY]))


def _assert_as_scanned(store: ObjectStore) -> None:
    assert _rows(read_failures(store, LAYOUT)) == _truth(store)


def _change_one(store: ObjectStore, rng: random.Random, ids: int = 30) -> None:
    """One random change a run or a sensor makes: a failure recorded (new or again), cleared, or torn."""
    document_id = _doc(rng.randrange(ids))
    what = rng.randrange(4)
    if what <= 1:
        error = rng.choice((SourceUnavailable("gone"), EncryptedDocument("locked")))
        record_failure(store, LAYOUT, document_id=document_id, source_uri=f"/in/{document_id}.pdf",
                       stage=rng.choice(("parsed_layouts", "kie_fields")), error=error, run_id=f"run-{rng.random()}")
    elif what == 2:
        clear_failure(store, LAYOUT, document_id)
    else:  # a record that cannot be read: left out by a scan, so by the summary too
        write_tracked(store, LAYOUT, LAYOUT.failure_key(document_id), b"not parquet")


@pytest.mark.parametrize("seed", range(4))
def test_random_interleavings_of_failures_and_folds_read_as_a_full_scan(tmp_path, seed):
    store = LocalObjectStore(tmp_path)
    rng = random.Random(seed)
    folds = 0
    for _ in range(200):
        if rng.random() < 0.1:
            compact_failures(store, LAYOUT, grace_s=rng.choice((0.0, 0.0, 3600.0)))
            folds += 1
        else:
            _change_one(store, rng)
        if rng.random() < 0.25:
            _assert_as_scanned(store)
    _assert_as_scanned(store)
    assert folds > 5


class CountingStore(LocalObjectStore):
    def __init__(self, root):
        super().__init__(root)
        self.reads: list[str] = []

    def read_bytes(self, key: str) -> bytes:
        self.reads.append(key)
        return super().read_bytes(key)


def test_after_a_fold_a_read_takes_the_part_and_only_the_records_changed_since(tmp_path):
    store = CountingStore(tmp_path)
    for i in range(40):
        record_failure(store, LAYOUT, document_id=_doc(i), source_uri=None, stage="parsed_layouts",
                       error=SourceUnavailable("gone"), run_id="r1")
    _wait_for_the_store_clock_to_pass_the_markers(store)
    compact_failures(store, LAYOUT, grace_s=0)
    assert not changed_files(store, LAYOUT, FAILURES), "every folded marker is gone"
    record_failure(store, LAYOUT, document_id=_doc(3), source_uri=None, stage="kie_fields",
                   error=EncryptedDocument("locked"), run_id="r2")
    clear_failure(store, LAYOUT, _doc(5))
    store.reads.clear()
    rows = {r["document_id"]: r for r in read_failures(store, LAYOUT).to_pylist()}
    record_reads = [k for k in store.reads if k.startswith(f"{LAYOUT.failures}/")]
    assert record_reads == [LAYOUT.failure_key(_doc(3))], "the cleared one is gone, the rest come from the part"
    assert len(rows) == 39 and _doc(5) not in rows
    assert rows[_doc(3)]["stage"] == "kie_fields" and rows[_doc(3)]["run_id"] == "r2"
    _assert_as_scanned(store)


def test_clearing_a_document_without_a_record_writes_no_marker(tmp_path):
    store = LocalObjectStore(tmp_path)
    clear_failure(store, LAYOUT, _doc(1))  # every successful document does this
    assert pending_changes(store, LAYOUT) == 0


def test_records_written_before_tracking_count_from_the_first_fold(tmp_path):
    """A deployment from before the summary: its records have no markers; the first fold scans them."""
    import io

    import pyarrow.parquet as pq

    store = LocalObjectStore(tmp_path)
    record_failure(store, LAYOUT, document_id=_doc(1), source_uri=None, stage="parsed_layouts",
                   error=SourceUnavailable("gone"), run_id="r1")
    old = store.read_bytes(LAYOUT.failure_key(_doc(1)))
    table = pq.read_table(io.BytesIO(old))
    for i in range(2, 5):  # untracked, as written before
        buffer = io.BytesIO()
        pq.write_table(table.set_column(0, "document_id", [[_doc(i)]]), buffer)
        store.write_bytes(LAYOUT.failure_key(_doc(i)), buffer.getvalue())
    assert len(read_failures(store, LAYOUT)) == 4
    compact_failures(store, LAYOUT, grace_s=0)
    assert len(read_failures(store, LAYOUT)) == 4
    _assert_as_scanned(store)


def test_a_crash_at_any_write_of_a_fold_leaves_the_records_as_scanned(tmp_path):
    probe = CrashingStore(tmp_path / "probe", crash_at=0)
    rng = random.Random(5)
    for _ in range(30):
        _change_one(probe, rng, ids=12)
    _wait_for_the_store_clock_to_pass_the_markers(probe)
    compact_failures(probe, LAYOUT, grace_s=0)
    for _ in range(30):
        _change_one(probe, rng, ids=12)
    _wait_for_the_store_clock_to_pass_the_markers(probe)
    before = probe.mutations
    compact_failures(probe, LAYOUT, grace_s=0)
    steps = probe.mutations - before
    assert steps > 5
    for crash_at in range(1, steps + 1):
        root = tmp_path / f"crash{crash_at}"
        store = CrashingStore(root, crash_at=0)
        rng = random.Random(5)
        for _ in range(30):
            _change_one(store, rng, ids=12)
        _wait_for_the_store_clock_to_pass_the_markers(store)
        compact_failures(store, LAYOUT, grace_s=0)
        for _ in range(30):
            _change_one(store, rng, ids=12)
        _wait_for_the_store_clock_to_pass_the_markers(store)
        store.crash_at, store.mutations = crash_at, 0
        with pytest.raises(Crash):
            compact_failures(store, LAYOUT, grace_s=0)
        plain = LocalObjectStore(root)
        _assert_as_scanned(plain)
        _change_one(plain, rng, ids=12)
        compact_failures(plain, LAYOUT, grace_s=0)
        _assert_as_scanned(plain)


def test_a_fold_that_loses_a_race_to_another_changes_nothing(tmp_path):
    store = LocalObjectStore(tmp_path)
    record_failure(store, LAYOUT, document_id=_doc(1), source_uri=None, stage="parsed_layouts",
                   error=SourceUnavailable("gone"), run_id="r1")

    class Overtaken(LocalObjectStore):
        def write_bytes(self, key: str, data: bytes) -> str:
            uri = super().write_bytes(key, data)
            if "/part-" in key:
                compact_failures(LocalObjectStore(self.root), LAYOUT, grace_s=0)
            return uri

    with pytest.raises(SummaryRaced):
        compact_failures(Overtaken(tmp_path), LAYOUT, grace_s=0)
    _assert_as_scanned(store)


def test_fold_summaries_folds_the_failures_with_the_figures(tmp_path):
    store = LocalObjectStore(tmp_path)
    record_failure(store, LAYOUT, document_id=_doc(1), source_uri=None, stage="parsed_layouts",
                   error=SourceUnavailable("gone"), run_id="r1")
    assert pending_changes(store, LAYOUT) == 1
    _wait_for_the_store_clock_to_pass_the_markers(store)
    reports = {r.kind: r for r in fold_summaries(store, LAYOUT, grace_s=0)}
    assert reports["failures"].rows == 1 and pending_changes(store, LAYOUT) == 0
    _assert_as_scanned(store)


def test_on_s3_the_failures_summary_reads_as_a_full_scan():
    with moto_server() as url:
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                              aws_secret_access_key="x")
        client.create_bucket(Bucket="out")
        store = S3ObjectStore("s3://out/results", client)
        rng = random.Random(11)
        for step in range(80):
            if step % 20 == 19:
                compact_failures(store, LAYOUT, grace_s=0)
            else:
                _change_one(store, rng, ids=15)
            if step % 10 == 0:
                _assert_as_scanned(store)
        compact_failures(store, LAYOUT, grace_s=0)
        _assert_as_scanned(store)
