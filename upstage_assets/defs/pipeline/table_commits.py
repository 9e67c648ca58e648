"""The step's Delta commits: validated rows go in batches, materializations after their commit.

A document's ``validated_documents`` materialization says "its row is in the table", so it is
logged only once the commit holding that row has succeeded. Rows are committed every
``every`` documents, once the first pending row has waited ``max_wait_s``, and at the end of
the step (also when the step is failing: what was validated is committed and logged first). A commit that cannot be made (after the writer's
retries on conflicts) fails its documents at ``validated_documents``, retryable; nothing
already logged is taken back.

The commit (I/O) runs in a worker thread off the batch's loop; the materializations are handed,
once it has succeeded and in order, to the step's thread (``step_bridge.py``), which logs them
with the patient retry through an instance-database outage (``bookkeeping.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from dagster import AssetMaterialization

from upstage_assets.defs.pipeline.step_bridge import DeferredContext
from upstage_assets.errors import DocumentError
from upstage_assets.redaction import redact
from upstage_assets.storage.table_writer import DeltaTableWriter, TableRow

# A commit (a Delta MERGE) costs about 50 ms of CPU whatever its size: 8 rows a commit cost the run worker 6 ms
# of CPU per document, 32 rows 1.5 ms (bench/results/throughput.md, stop 40). A row waits at most
# DEFAULT_COMMIT_WAIT_S for its commit, so a slow step (the tier-0 rate, the local engine on a CPU) still shows
# its rows within seconds; a crash redoes at most a commit's validations (its answers are stored: no API call).
DEFAULT_COMMIT_EVERY = 32
DEFAULT_COMMIT_WAIT_S = 2.0


class TableCommitError(DocumentError):
    """The row could not be committed to its Delta table (a storage error, or endless conflicts)."""

    code = "table_commit_failed"
    retryable = True


@dataclass
class PendingRow:
    document_id: str
    row: TableRow
    materialization: AssetMaterialization
    extra_rows: list[TableRow] = field(default_factory=list)  # rows of further schemas of the same bytes


class TableCommits:
    """Collects the step's validated rows, commits them in batches, then logs their materializations."""

    def __init__(self, context: DeferredContext, writer: DeltaTableWriter,
                 on_failed: Callable[[str, DocumentError], Awaitable[None]], every: int = DEFAULT_COMMIT_EVERY,
                 max_wait_s: float = DEFAULT_COMMIT_WAIT_S):
        self.context, self.writer, self.on_failed = context, writer, on_failed
        self.every = max(1, every)
        self.max_wait_s = max_wait_s
        self.pending: list[PendingRow] = []
        self.committed = 0
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None  # commits what is pending once its first row waited max_wait_s

    async def add(self, pending: PendingRow) -> None:
        self.pending.append(pending)
        if len(self.pending) >= self.every:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_after(self.max_wait_s))

    async def _flush_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._timer = None  # from here on, a flush elsewhere leaves this one to finish
        await self.flush()

    async def flush(self) -> None:
        """Commit everything pending; log each document's materialization after the commit."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._lock:
            batch, self.pending = self.pending, []
            if not batch:
                return
            try:
                report = await asyncio.to_thread(self.writer.commit, [r for p in batch for r in (p.row, *p.extra_rows)])
            except Exception as exc:
                detail = redact(f"{type(exc).__name__}: {exc}")[:300]
                self.context.log.error(f"{len(batch)} validated rows could not be committed: {detail}")
                for p in batch:
                    await self.on_failed(p.document_id, TableCommitError(
                        f"its row could not be committed to the Delta table: {detail}"))
                return
            for p in batch:
                area = self.writer.layout.quarantine if p.row.quarantined else self.writer.layout.tables
                uri = self.writer.location(area, p.row.schema).uri
                version = report.versions.get(uri)
                metadata = dict(p.materialization.metadata)
                if version is not None:
                    metadata["delta_version"] = version  # type: ignore[assignment]
                self.context.log_event(AssetMaterialization(  # on the step's thread, after the commit, in order
                    asset_key=p.materialization.asset_key, partition=p.materialization.partition,
                    tags=p.materialization.tags, metadata=metadata))
            self.committed += len(batch)
            if report.conflicts_retried:
                self.context.log.info(f"table commit of {len(batch)} documents retried "
                                      f"{report.conflicts_retried} times on concurrent commits")
            for uri, (removed, added) in report.compacted.items():
                self.context.log.info(f"compacted {self._name(uri)}: {removed} small files into {added}")
            for uri, why in report.compaction_errors.items():
                self.context.log.warning(f"could not compact {self._name(uri)} (its rows are committed; the "
                                         f"weekly maintenance will): {redact(why)[:300]}")

    def _name(self, uri: str) -> str:
        """``<area>/<schema>``: a table named without the store's root (nor any credentials in a URI)."""
        return "/".join(uri.rstrip("/").split("/")[-2:])
