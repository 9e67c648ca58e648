"""Run-level progress an operator can see without opening the logs: run tags.

A batch run updates its own tags as documents finish (every ten and at the end): documents
done and failed out of the batch, billed pages, estimated cost, throughput and ETA. Tags show
in the UI's run list and run header, and `upstage-assets status` reads them for runs in
flight. Bookkeeping never fails a run: a tag write that errors is logged and skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TAG_PREFIX = "upstage_assets/progress."
DONE_TAG = f"{TAG_PREFIX}done"
FAILED_TAG = f"{TAG_PREFIX}failed"
PAGES_TAG = f"{TAG_PREFIX}pages_billed"
COST_TAG = f"{TAG_PREFIX}cost_usd"
RATE_TAG = f"{TAG_PREFIX}docs_per_s"
ETA_TAG = f"{TAG_PREFIX}eta_s"


def progress_tags(outcomes: Sequence[Any], total: int, elapsed_s: float, price_per_page: float) -> dict[str, str]:
    """Tags from the outcomes so far (objects with ``error`` and ``pages_billed``)."""
    from upstage_assets.errors import BudgetExceeded

    finished = len(outcomes)
    succeeded = sum(1 for o in outcomes if o.error is None)
    failed = sum(1 for o in outcomes if o.error is not None and not isinstance(o.error, BudgetExceeded))
    pages = sum(int(o.pages_billed or 0) for o in outcomes)
    rate = finished / elapsed_s if elapsed_s > 0 else 0.0
    eta = (total - finished) / rate if rate else 0.0
    return {DONE_TAG: f"{succeeded}/{total}", FAILED_TAG: str(failed), PAGES_TAG: str(pages),
            COST_TAG: f"{pages * price_per_page:.4f}", RATE_TAG: f"{rate:.2f}", ETA_TAG: f"{eta:.0f}"}


def publish_progress(context: Any, outcomes: Sequence[Any], total: int, elapsed_s: float,
                     price_per_page: float) -> None:
    try:
        context.instance.add_run_tags(context.run_id, progress_tags(outcomes, total, elapsed_s, price_per_page))
    except Exception as exc:  # a busy SQLite file, a read-only instance: progress is best effort
        context.log.debug(f"could not update run progress tags: {type(exc).__name__}")


def read_progress(tags: dict[str, str]) -> dict[str, str]:
    """The progress tags of a run, without the prefix (empty for runs that never reported)."""
    return {k[len(TAG_PREFIX):]: v for k, v in tags.items() if k.startswith(TAG_PREFIX)}
