"""What each document of a batch came to, and what the step says about the whole batch.

A ``DocumentOutcome`` is one document's result in the step (the stages it completed, the stage
it failed at, what it was billed, whether a shutdown stopped it); the step's summary, its word
on documents the spend limit kept back and its report of an interrupted batch are made from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dagster import AssetExecutionContext, AssetKey, DagsterExecutionInterruptedError

from upstage_assets.defs.pipeline.progress import billed_totals
from upstage_assets.defs.pipeline.shutdown import BatchShutdown
from upstage_assets.defs.pipeline.table_commits import PendingRow
from upstage_assets.errors import BudgetExceeded, DocumentError
from upstage_assets.storage.billing import billed_by_product


@dataclass
class DocumentOutcome:
    document_id: str
    completed: list[AssetKey]
    error: DocumentError | None = None
    failed_stage: AssetKey | None = None
    pages_billed: dict[str, int] = field(default_factory=dict)  # per product (storage.billing)
    cost_usd: float = 0.0
    possibly_billed_twice: int = 0
    quarantined: bool = False
    pending: PendingRow | None = None  # the validated row, its materialization logged after its commit
    stopped: str | None = None  # a shutdown stopped it: "not started", "between stages" or "abandoned"
    began: bool = False  # it held a concurrency slot (its stages were under way)

    def bill(self, metadata: dict[str, Any]) -> None:
        """Add a stage's billing figures (``storage.billing.stage_metadata``) to this document's."""
        billed = billed_by_product(metadata)
        for product, (pages, _) in billed.items():
            self.pages_billed[product] = self.pages_billed.get(product, 0) + pages
        if billed:
            self.cost_usd += float(metadata.get("estimated_cost_usd") or 0.0)
            self.possibly_billed_twice += int(metadata.get("possibly_billed_twice") or 0)


def batch_summary(outcomes: list[DocumentOutcome], seconds: float) -> dict[str, Any]:
    """What the batch came to: the step's log line, its check's metadata and its failure's."""
    failed = [o for o in outcomes if o.error and not isinstance(o.error, BudgetExceeded)]
    pending = [o for o in outcomes if isinstance(o.error, BudgetExceeded)]
    return {"documents": len(outcomes),
            "succeeded": sum(1 for o in outcomes if o.error is None and o.stopped is None),
            "failed": len(failed), "pending_budget": len(pending),
            "stopped_by_shutdown": sum(1 for o in outcomes if o.stopped is not None),
            "quarantined": sum(1 for o in outcomes if o.quarantined),
            **billed_totals(outcomes), "seconds": round(seconds, 2),
            "docs_per_second": round(len(outcomes) / seconds, 2) if seconds else None}


def stop_for_shutdown(context: AssetExecutionContext, shutdown: BatchShutdown,
                      outcomes: list[DocumentOutcome]) -> None:
    """Say what the interrupted batch leaves behind, then end the step as interrupted (retried)."""
    stopped: dict[str, list[str]] = {}
    for o in outcomes:
        if o.stopped:
            stopped.setdefault(o.stopped, []).append(o.document_id)
    finished = sum(1 for o in outcomes if o.stopped is None)
    context.log.warning(
        f"{shutdown.signal_name or 'a stop signal'} received: stopped taking documents. {finished} documents "
        f"finished in this run and are materialized; {len(stopped.get('between stages', []))} stopped after the "
        f"stage in flight, {len(stopped.get('not started', []))} not started, "
        f"{len(stopped.get('abandoned', []))} abandoned after the {shutdown.grace_s:.0f} s grace period "
        f"{sorted(stopped.get('abandoned', []))[:20]}. They resume at their stage when the run is retried "
        "(or with `upstage-assets retry-failed`).")
    raise DagsterExecutionInterruptedError()


def say_pending_budget(context: AssetExecutionContext, outcomes: list[DocumentOutcome]) -> None:
    """Documents the budget kept back were not sent and are not failed: the run says so, once."""
    pending = [o for o in outcomes if isinstance(o.error, BudgetExceeded)]
    if not pending:
        return
    first = pending[0].error.message if pending[0].error else ""
    context.log.warning(
        f"{len(pending)} documents were not sent: the spend limit was reached ({first}). They stay pending, "
        "not failed; nothing was paid for them. Raise the limit (budget_per_run_usd / budget_per_day_usd of "
        "the parser resource), then run `upstage-assets retry-failed`: what was already done is not sent again.")
