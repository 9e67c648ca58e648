"""Delta maintenance: optimize + vacuum + checkpoint keep every row, exactly once, throughout."""

import threading
from collections import Counter
from datetime import UTC, datetime

from upstage_assets.operations.compaction import compact_tables
from upstage_assets.storage.delta import TableLocation
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.table_writer import DeltaTableWriter
from upstage_assets.storage.tables import open_delta, read_tables
from upstage_assets_tests.storage.rows import LAYOUT, SCHEMA, table_row


def _fill(store, count: int, per_commit: int = 1) -> list[str]:
    ids = [f"{i:016x}" for i in range(count)]
    writer = DeltaTableWriter(store, LAYOUT)
    for start in range(0, count, per_commit):
        writer.commit([table_row(d, "10.5", datetime.now(UTC)) for d in ids[start:start + per_commit]])
    return ids


def test_small_files_become_one_file_with_every_row_and_a_checkpoint(tmp_path):
    store = LocalObjectStore(tmp_path)
    ids = _fill(store, 30)
    (report,) = compact_tables(store, LAYOUT, retention_hours=0)
    assert report.files_before == 30 and report.files_after == 1 and report.rows == 30
    assert report.files_vacuumed == 30, "the replaced small files are gone from the folder"
    folder = tmp_path / "tables" / SCHEMA.name
    assert len(list(folder.glob("*.parquet"))) == 1
    assert list((folder / "_delta_log").glob("*.checkpoint.parquet"))
    assert sorted(read_tables(store, LAYOUT)[SCHEMA.name].column("document_id").to_pylist()) == ids


def test_the_default_retention_keeps_old_versions_readable(tmp_path):
    store = LocalObjectStore(tmp_path)
    _fill(store, 5)
    (report,) = compact_tables(store, LAYOUT)
    assert report.files_vacuumed == 0  # files of versions younger than a week stay for readers/time travel
    old = open_delta(TableLocation(str(tmp_path / "tables" / SCHEMA.name)), version=2).to_pyarrow_table()
    assert old.num_rows == 2


def test_readers_and_a_writer_during_compaction_see_every_document_once(tmp_path):
    store = LocalObjectStore(tmp_path)
    ids = _fill(store, 60, per_commit=3)
    seen: list[tuple[int, int]] = []
    errors: list[Exception] = []
    stop = threading.Event()

    def read_loop():
        while not stop.is_set():
            try:
                table = read_tables(store, LAYOUT)[SCHEMA.name]
                counts = Counter(table.column("document_id").to_pylist())
                seen.append((len(counts), max(counts.values())))
            except Exception as exc:  # pragma: no cover - the failure we look for
                errors.append(exc)

    def write_loop():  # a pipeline run re-validating documents meanwhile
        writer = DeltaTableWriter(store, LAYOUT)
        for start in range(0, 12, 3):
            writer.commit([table_row(d, "11", datetime.now(UTC)) for d in ids[start:start + 3]])

    threads = [threading.Thread(target=read_loop), threading.Thread(target=write_loop)]
    for thread in threads:
        thread.start()
    try:
        compact_tables(store, LAYOUT)  # the default retention: a reader's open version stays readable
    finally:
        threads[1].join()
        stop.set()
        threads[0].join()
    assert not errors
    assert seen and all(count == len(ids) and most == 1 for count, most in seen), "never missing, never twice"
    final = read_tables(store, LAYOUT)[SCHEMA.name]
    assert final.num_rows == len(ids)
    assert {str(r["amount"]) for r in final.to_pylist() if r["document_id"] in ids[:12]} == {"11.0000"}
