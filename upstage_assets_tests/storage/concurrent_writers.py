"""Two pipeline-like writers committing to the same Delta tables at once, in separate processes."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore, ObjectStore, S3ObjectStore
from upstage_assets.storage.table_writer import DeltaTableWriter

BATCH = 4


def _store(root: str, endpoint: str | None) -> ObjectStore:
    if root.startswith("s3://"):
        import boto3

        return S3ObjectStore(root, boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1"))
    return LocalObjectStore(root)


def _write(root: str, endpoint: str | None, ids: list[str], quarantine_every: int, compact_at: int | None,
           start, results) -> None:
    from upstage_assets_tests.storage.rows import table_row

    writer = DeltaTableWriter(_store(root, endpoint), OutputLayout())
    if compact_at is not None:
        writer.compact_at_small_files = compact_at
    start.wait(timeout=60)
    retried = 0
    for offset in range(0, len(ids), BATCH):
        rows = [table_row(d, f"{i}.25", datetime.now(UTC), quarantine=bool(quarantine_every) and i % quarantine_every == 0)
                for i, d in enumerate(ids[offset:offset + BATCH], start=offset)]
        retried += writer.commit(rows).conflicts_retried
    results.put(retried)


def write_at_once(root: str, id_lists: list[list[str]], endpoint: str | None = None,
                  quarantine_every: int = 0, compact_at_small_files: int | None = None) -> int:
    """Each list written by its own process, all starting together; the conflicts they retried."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    processes = [context.Process(target=_write, args=(root, endpoint, ids, quarantine_every,
                                                                compact_at_small_files, start, results))
                 for ids in id_lists]
    for process in processes:
        process.start()
    start.set()
    retried = sum(results.get(timeout=300) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return retried
