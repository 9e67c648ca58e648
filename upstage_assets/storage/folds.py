"""Fold every summary at once: the per-document figures (``summaries.py``) and the failure
records (``failures.py``). What the schedule, ``compact-summaries`` and ``ingest --wait`` run."""

from __future__ import annotations

from upstage_assets.storage.failures import FAILURES, compact_failures
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.summaries import (
    GRACE_S,
    KINDS,
    SummaryCompaction,
    changed_files,
    compact_summaries,
)


def fold_summaries(store: ObjectStore, layout: OutputLayout | None = None, *, grace_s: float = GRACE_S,
                   rescan: bool = False) -> list[SummaryCompaction]:
    """Fold the registry, page-count, bill and failure files changed since the last fold."""
    layout = layout or OutputLayout()
    return [*compact_summaries(store, layout, grace_s=grace_s, rescan=rescan),
            compact_failures(store, layout, grace_s=grace_s, rescan=rescan)]


def pending_changes(store: ObjectStore, layout: OutputLayout | None = None) -> int:
    """Change markers not folded yet: what every reader of the summaries re-reads one by one."""
    layout = layout or OutputLayout()
    return sum(len(changed_files(store, layout, kind)) for kind in (*KINDS, FAILURES))
