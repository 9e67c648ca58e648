"""Run-level progress an operator can see without opening the logs: run tags.

A batch run updates its own tags as documents finish (at most every ``PROGRESS_EVERY_S``, and at the
end): documents done, failed and pending (the spend limit was reached) out of the batch, billed pages
per product (parse, classification, extraction) and in all, estimated cost (each product at its own
price: ``storage.billing``), throughput and ETA. Tags show in the UI's run list and run header, and
`upstage-assets status` reads them for runs in flight. Bookkeeping never fails a run: a tag write that
errors is logged and skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from upstage_assets.storage.billing import PRODUCTS

TAG_PREFIX = "upstage_assets/progress."
DONE_TAG = f"{TAG_PREFIX}done"
FAILED_TAG = f"{TAG_PREFIX}failed"
PENDING_BUDGET_TAG = f"{TAG_PREFIX}pending_budget"  # not sent: the spend limit was reached
PAGES_TAG = f"{TAG_PREFIX}pages_billed"  # every product together
#: ``pages_billed_parse``, ``pages_billed_classification``, ``pages_billed_extraction``
PRODUCT_PAGES_TAGS = {product: f"{PAGES_TAG}_{product}" for product in PRODUCTS}
TWICE_TAG = f"{TAG_PREFIX}possibly_billed_twice"
API_TAG = f"{TAG_PREFIX}api"  # "ok", or why requests are paused (the client's circuit breaker)
COST_TAG = f"{TAG_PREFIX}cost_usd"
RATE_TAG = f"{TAG_PREFIX}docs_per_s"
ETA_TAG = f"{TAG_PREFIX}eta_s"
# A tag update is several writes to the run storage. Every ten documents was 25 updates a run of 250
# at 40 documents/s, 2% of a run worker's CPU, where a person reading the UI needs one every few seconds.
PROGRESS_EVERY_S = 2.0


class ProgressCadence:
    """When a batch says how far it is: once ``every_s`` has passed since it last did, and at its end."""

    def __init__(self, total: int, every_s: float = PROGRESS_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.every_s, self.clock = total, every_s, clock
        self.started = self.last = clock()

    def due(self, done: int) -> bool:
        now = self.clock()
        if done < self.total and now - self.last < self.every_s:
            return False
        self.last = now
        return True

    def elapsed_s(self) -> float:
        return self.clock() - self.started


def billed_totals(outcomes: Sequence[Any]) -> dict[str, Any]:
    """Billed pages per product and in all, and the estimated cost, of documents' outcomes
    (objects with ``pages_billed`` per product, ``cost_usd`` and ``possibly_billed_twice``)."""
    per_product = {p: sum(int(o.pages_billed.get(p, 0)) for o in outcomes) for p in PRODUCTS}
    return {"pages_billed": sum(per_product.values()), **{f"pages_billed_{p}": n for p, n in per_product.items()},
            "estimated_cost_usd": round(sum(o.cost_usd for o in outcomes), 4),
            "possibly_billed_twice": sum(int(o.possibly_billed_twice) for o in outcomes)}


def progress_tags(outcomes: Sequence[Any], total: int, elapsed_s: float) -> dict[str, str]:
    """Tags from the outcomes so far (objects with ``error`` and the ``billed_totals`` fields)."""
    from upstage_assets.errors import BudgetExceeded

    finished = len(outcomes)
    succeeded = sum(1 for o in outcomes if o.error is None and getattr(o, "stopped", None) is None)
    failed = sum(1 for o in outcomes if o.error is not None and not isinstance(o.error, BudgetExceeded))
    pending = sum(1 for o in outcomes if isinstance(o.error, BudgetExceeded))
    billed = billed_totals(outcomes)
    rate = finished / elapsed_s if elapsed_s > 0 else 0.0
    eta = (total - finished) / rate if rate else 0.0
    return {DONE_TAG: f"{succeeded}/{total}", FAILED_TAG: str(failed), PENDING_BUDGET_TAG: str(pending),
            PAGES_TAG: str(billed["pages_billed"]),
            **{tag: str(billed[f"pages_billed_{p}"]) for p, tag in PRODUCT_PAGES_TAGS.items()},
            TWICE_TAG: str(billed["possibly_billed_twice"]),
            COST_TAG: f"{billed['estimated_cost_usd']:.4f}", RATE_TAG: f"{rate:.2f}", ETA_TAG: f"{eta:.0f}"}


def publish_progress(context: Any, outcomes: Sequence[Any], total: int, elapsed_s: float) -> None:
    try:
        context.instance.add_run_tags(context.run_id, progress_tags(outcomes, total, elapsed_s))
    except Exception as exc:  # a busy SQLite file, a read-only instance: progress is best effort
        context.log.debug(f"could not update run progress tags: {type(exc).__name__}")


def publish_api_state(context: Any, text: str) -> None:
    """The circuit breaker's state as a run tag (seen in the UI's run list) and in the run's log."""
    (context.log.info if text == "ok" else context.log.warning)(f"Upstage API: {text}")
    try:
        context.instance.add_run_tags(context.run_id, {API_TAG: text[:250]})
    except Exception as exc:  # best effort, like the other progress tags
        context.log.debug(f"could not update the API state tag: {type(exc).__name__}")


BOOKKEEPING_TAG = f"{TAG_PREFIX}bookkeeping"  # "<calls> calls, <ms> ms each": the step thread's Dagster writes


def publish_bookkeeping(context: Any, calls: int, seconds: float) -> None:
    """How long Dagster's bookkeeping took per call: with the fan-out off the loop, it bounds a run."""
    try:
        context.instance.add_run_tags(context.run_id, {
            BOOKKEEPING_TAG: f"{calls} calls, {1000 * seconds / calls if calls else 0.0:.1f} ms each"})
    except Exception as exc:  # best effort, like the other progress tags
        context.log.debug(f"could not record the bookkeeping time: {type(exc).__name__}")


RATE_LIMIT_TAG_PREFIX = "upstage_assets/ratelimit."  # + endpoint: the API's rate-limit headers, last seen


def publish_rate_limits(context: Any, parser: Any) -> None:
    """The rate-limit headers the API answered with, as run tags; a warning where the configuration
    disagrees with the limit they state. Nothing for parsers that see no headers (the local engine)."""
    report = getattr(parser, "rate_limit_report", None)
    if not callable(report):
        return
    seen, disagreements = report()
    for line in disagreements:
        context.log.warning(f"rate limit: {line}")
    tags = {f"{RATE_LIMIT_TAG_PREFIX}{endpoint}": ", ".join(f"{k}={v}" for k, v in sorted(headers.items()))[:250]
            for endpoint, headers in seen.items()}
    if tags:
        try:
            context.instance.add_run_tags(context.run_id, tags)
        except Exception as exc:  # best effort, like the other progress tags
            context.log.debug(f"could not record the rate-limit headers: {type(exc).__name__}")


def read_progress(tags: dict[str, str]) -> dict[str, str]:
    """The progress tags of a run, without the prefix (empty for runs that never reported)."""
    return {k[len(TAG_PREFIX):]: v for k, v in tags.items() if k.startswith(TAG_PREFIX)}
