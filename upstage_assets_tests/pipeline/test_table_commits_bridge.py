"""The Delta commits of a batch through the step bridge: the commit runs off the step's thread, and
the materializations of its rows are logged by the step's thread, after the commit, in order, with
the patient retry through an instance-database outage.

The table, its commits and the bridge are real; the step context is a stand-in (its event log and
the instance's materialization lookup are the point, recorded with the thread that wrote), because a
Dagster context cannot be handed to a test's own event loop; the pipeline tests use the real one.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import psycopg2
from dagster import AssetMaterialization
from deltalake import DeltaTable
from sqlalchemy.exc import OperationalError

from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
from upstage_assets.defs.pipeline.step_bridge import DeferredContext, StepBridge
from upstage_assets.defs.pipeline.table_commits import PendingRow, TableCommits
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.table_writer import DeltaTableWriter
from upstage_assets_tests.storage.rows import LAYOUT, table_row


class RecordingContext:
    """Records each materialization with the writing thread and the table's version at that moment;
    the first write fails as a database outage would (refused before anything was stored)."""

    run_id = "run-1"

    def __init__(self, table_uri: str) -> None:
        self.table_uri = table_uri
        self.logged: list[tuple[str, int, int]] = []  # (partition, thread, table version when logged)
        self.attempts = 0
        self.lines: list[str] = []
        self.log = SimpleNamespace(info=self.lines.append, error=self.lines.append, warning=self.lines.append)
        self.instance = SimpleNamespace(fetch_materializations=lambda *_a, **_k: SimpleNamespace(records=[]))

    def log_event(self, event: AssetMaterialization) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise OperationalError("INSERT", {}, psycopg2.OperationalError("could not connect to server"))
        self.logged.append((str(event.partition), threading.get_ident(), DeltaTable(self.table_uri).version()))


def one_by_one(context: RecordingContext, events: list[AssetMaterialization]) -> None:
    """The stand-in's batch write (Dagster's own is ``dagster_compat.log_materialization_batch``)."""
    for event in events:
        context.log_event(event)


def test_rows_are_committed_off_the_step_thread_and_logged_on_it_after_their_commit_in_order(tmp_path):
    store = LocalObjectStore(tmp_path)
    writer = DeltaTableWriter(store, LAYOUT)
    context = RecordingContext(str(tmp_path / LAYOUT.tables / "invoice"))
    bridge = StepBridge()
    deferred = DeferredContext(context, bridge, write_batch=one_by_one)
    when = datetime(2024, 6, 1, tzinfo=UTC)
    ids = [f"{i:016x}" for i in range(5)]
    commit_threads: set[int] = set()
    commit = writer.commit

    def recording_commit(rows):
        commit_threads.add(threading.get_ident())
        return commit(rows)

    writer.commit = recording_commit  # type: ignore[method-assign]

    async def batch() -> None:
        async def failed(document_id, error):  # no commit fails here
            raise AssertionError(f"{document_id}: {error}")

        commits = TableCommits(deferred, writer, failed, every=2)
        for document_id in ids:
            await commits.add(PendingRow(document_id, table_row(document_id, 10.0, when),
                                         AssetMaterialization(VALIDATED_DOCUMENTS, partition=document_id)))
        await commits.flush()

    bridge.run(batch)
    step_thread = threading.get_ident()
    assert [p for p, _, _ in context.logged] == ids, "in order, each once"
    assert {t for _, t, _ in context.logged} == {step_thread}, "the context used from the step's thread only"
    assert commit_threads and step_thread not in commit_threads, "the commits' I/O stays off the step's thread"
    assert context.attempts == len(ids) + 1, "the write the outage refused was made again"
    for document_id, _, version_when_logged in context.logged:
        table = DeltaTable(context.table_uri, version=version_when_logged)
        assert document_id in table.to_pyarrow_table(columns=["document_id"]).column("document_id").to_pylist(), \
            "logged only once the commit holding its row had succeeded"


def test_a_compaction_after_a_commit_is_said_in_the_run_log_naming_the_table_only(tmp_path):
    store = LocalObjectStore(tmp_path)
    writer = DeltaTableWriter(store, LAYOUT, compact_at_small_files=2)
    context = RecordingContext(str(tmp_path / LAYOUT.tables / "invoice"))
    context.attempts = 1  # no outage in this one
    bridge = StepBridge()
    deferred = DeferredContext(context, bridge, write_batch=one_by_one)
    when = datetime(2024, 6, 1, tzinfo=UTC)

    async def batch() -> None:
        async def failed(document_id, error):
            raise AssertionError(f"{document_id}: {error}")

        commits = TableCommits(deferred, writer, failed, every=1)
        for document_id in ("a" * 16, "b" * 16, "c" * 16):
            await commits.add(PendingRow(document_id, table_row(document_id, 10.0, when),
                                         AssetMaterialization(VALIDATED_DOCUMENTS, partition=document_id)))

    bridge.run(batch)
    assert [p for p, _, _ in context.logged] == ["a" * 16, "b" * 16, "c" * 16]
    assert "compacted tables/invoice: 2 small files into 1" in context.lines
    assert not any(str(tmp_path) in line for line in context.lines), "the table named, not the store's path"


def test_rows_fewer_than_a_batch_are_committed_once_the_first_has_waited_its_bound(tmp_path):
    """A slow step (tier-0 rate, the local engine on a CPU) never fills a batch: its rows still reach the
    table and their materializations the log after ``max_wait_s``, with no flush from the batch's end."""
    store = LocalObjectStore(tmp_path)
    writer = DeltaTableWriter(store, LAYOUT)
    context = RecordingContext(str(tmp_path / LAYOUT.tables / "invoice"))
    context.attempts = 1  # no outage in this one
    bridge = StepBridge()
    deferred = DeferredContext(context, bridge, write_batch=one_by_one)
    when = datetime(2024, 6, 1, tzinfo=UTC)
    ids = ["a" * 16, "b" * 16, "c" * 16]
    seen_before_the_end: list[list[str]] = []

    async def batch() -> None:
        async def failed(document_id, error):
            raise AssertionError(f"{document_id}: {error}")

        commits = TableCommits(deferred, writer, failed, every=100, max_wait_s=0.2)
        for document_id in ids[:2]:
            await commits.add(PendingRow(document_id, table_row(document_id, 10.0, when),
                                         AssetMaterialization(VALIDATED_DOCUMENTS, partition=document_id)))
        for _ in range(600):  # the bound is 0.2 s; this only gives up after a minute
            if commits.committed == 2:
                break
            await asyncio.sleep(0.1)
        await bridge.call(lambda: None)  # the step's thread (in order) has logged what was handed to it before
        seen_before_the_end.append([p for p, _, _ in context.logged])
        await commits.add(PendingRow(ids[2], table_row(ids[2], 10.0, when),
                                     AssetMaterialization(VALIDATED_DOCUMENTS, partition=ids[2])))
        await commits.flush()  # the batch's end: the third row, its timer cancelled

    bridge.run(batch)
    assert seen_before_the_end == [ids[:2]], "committed and logged by the time bound, before the batch ended"
    assert [p for p, _, _ in context.logged] == ids
    assert DeltaTable(context.table_uri).to_pyarrow_table(columns=["document_id"]).num_rows == 3
