"""Turning document ids into work: runs executed here (``--wait``) or a backfill for the daemon.

In process, each chunk (a contiguous partition range of at most 50 documents, see
``upstage_assets.retry``) is one ``process_documents`` run on the persistent instance, so the
UI shows it like any other. Without ``--wait`` the documents become one asset backfill,
exactly what the UI's "Materialize" button creates: the daemon splits it into runs per the
pipeline's BackfillPolicy (50 documents a run) and its queue bounds how many run at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from upstage_assets.assets.keys import DOCUMENT_ASSET_KEYS
from upstage_assets.cli.common import progress_bar
from upstage_assets.retry import PartitionChunk

QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
DAEMON_FRESH_SECONDS = 120


@dataclass
class LaunchReport:
    runs: list[tuple[str, bool]] = field(default_factory=list)  # (run id, success)
    backfill_id: str | None = None
    documents: int = 0
    seconds: float = 0.0


def ensure_partitions(instance: Any, keys: Sequence[str]) -> None:
    from upstage_assets.partitions import DOCUMENTS_PARTITIONS_NAME

    existing = set(instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME))
    missing = [k for k in dict.fromkeys(keys) if k not in existing]
    if missing:
        instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, missing)


def ordered_partitions(instance: Any) -> list[str]:
    from upstage_assets.partitions import DOCUMENTS_PARTITIONS_NAME

    return list(instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME))


def execute_chunks(defs: Any, instance: Any, chunks: Sequence[PartitionChunk], *, reason: str,
                   verbose: bool = False, show_progress: bool = True) -> LaunchReport:
    """Run each chunk as one ``process_documents`` run in this process, one after another."""
    job = defs.resolve_job_def("process_documents")
    report = LaunchReport(documents=sum(len(c.keys) for c in chunks))
    started = time.monotonic()
    with progress_bar(report.documents, "doc", show_progress, "documents") as bar:
        for chunk in chunks:
            result = job.execute_in_process(instance=instance, tags=chunk.tags(reason), raise_on_error=False,
                                            run_config=None if verbose else QUIET_LOGGERS)
            report.runs.append((result.run_id, result.success))
            bar.update(len(chunk.keys))
    report.seconds = time.monotonic() - started
    return report


def submit_backfill(defs: Any, instance: Any, keys: Sequence[str], *, title: str, reason: str) -> LaunchReport:
    """One asset backfill over ``keys`` for the daemon to run; returns at once."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(), asset_graph=defs.resolve_asset_graph(),
        partition_names=list(keys), asset_selection=list(DOCUMENT_ASSET_KEYS), backfill_timestamp=time.time(),
        tags={"upstage_assets/reason": reason}, dynamic_partitions_store=instance, all_partitions=False,
        title=title, description=f"{len(keys)} documents ({reason}), submitted by upstage-assets",
        run_config=None)
    instance.add_backfill(backfill)
    return LaunchReport(backfill_id=backfill.backfill_id, documents=len(keys))


def daemon_seen(instance: Any) -> bool:
    """Whether a dagster-daemon (or `dagster dev`) has sent a backfill heartbeat recently."""
    heartbeat = instance.get_daemon_heartbeats().get("BACKFILL")
    return heartbeat is not None and time.time() - heartbeat.timestamp < DAEMON_FRESH_SECONDS
