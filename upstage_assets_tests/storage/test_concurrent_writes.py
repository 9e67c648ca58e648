"""Two runs writing the same Delta table at once (separate processes): no lost row, no duplicate.

The S3 variant is in ``s3/test_delta_s3.py`` (moto server, conditional PUT)."""

from collections import Counter

import pytest

from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.tables import read_tables
from upstage_assets_tests.storage.concurrent_writers import write_at_once
from upstage_assets_tests.storage.rows import LAYOUT, SCHEMA

pytestmark = pytest.mark.slow


def test_two_processes_commit_overlapping_documents_to_one_local_table(tmp_path):
    ids = [f"{i:016x}" for i in range(40)]
    retried = write_at_once(str(tmp_path), [ids[:28], list(reversed(ids[12:]))])
    table = read_tables(LocalObjectStore(tmp_path), LAYOUT)[SCHEMA.name]
    counts = Counter(table.column("document_id").to_pylist())
    assert sorted(counts) == ids, "no lost row"
    assert max(counts.values()) == 1, "no duplicate"
    assert retried >= 0  # how often they collided varies; correctness must not


def test_concurrent_runs_moving_documents_to_quarantine_keep_each_in_one_table(tmp_path):
    ids = [f"{i:016x}" for i in range(24)]
    write_at_once(str(tmp_path), [ids, ids], quarantine_every=3)
    store = LocalObjectStore(tmp_path)
    validated = read_tables(store, LAYOUT)[SCHEMA.name].column("document_id").to_pylist()
    quarantined = read_tables(store, LAYOUT, area=LAYOUT.quarantine)[SCHEMA.name].column("document_id").to_pylist()
    assert sorted(validated + quarantined) == ids
    assert len(set(validated)) == len(validated) and len(set(quarantined)) == len(quarantined)


def test_runs_compacting_while_the_other_commits_lose_no_row_and_duplicate_none(tmp_path):
    """A compaction rewrites files another run's MERGE may have read: whichever commits second retries."""
    ids = [f"{i:016x}" for i in range(48)]
    write_at_once(str(tmp_path), [ids[:32], list(reversed(ids[16:]))], compact_at_small_files=3)
    table = read_tables(LocalObjectStore(tmp_path), LAYOUT)[SCHEMA.name]
    counts = Counter(table.column("document_id").to_pylist())
    assert sorted(counts) == ids, "no lost row"
    assert max(counts.values()) == 1, "no duplicate"
    from deltalake import DeltaTable

    assert len(DeltaTable(str(tmp_path / LAYOUT.tables / SCHEMA.name)).file_uris()) < 3 + 2, "compacted as it went"
