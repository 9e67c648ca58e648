"""What each document cost, per product: the one place billed pages are counted and priced.

Upstage bills three products a document may go through: Document Parse (``parse``: the parse
or OCR response's ``usage.pages`` / ``numBilledPages``), Document Classification
(``classification``: the classification response's billed pages, asked before extraction to
route or check the document's type) and Information Extraction (``extraction``: the extraction
response's billed pages). Each is priced with its own price per page from the client's
configuration. A stage writes one small record per document and product it billed under
``usage/<product>/<id>.json``; run tags, materialization metadata (``stage_metadata``), alerts
and ``upstage-assets status`` all read these figures, so they agree.

``possibly_billed_twice`` counts pages of requests sent again after an answer was lost
(a timeout or dropped connection after the server may have processed them): the server may
have billed them once more than the result shows. A stage that fails after losing answers
stores nothing, so it keeps their pages in the record (``keep_lost_answers``) and the run that
later stores the result adds them (``lost_since_stored``): otherwise a retry in another
process would re-pay them unrecorded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.summaries import MICRO, USAGE, Totals, read_summary, write_tracked

logger = logging.getLogger(__name__)

PARSE = "parse"
CLASSIFICATION = "classification"
EXTRACTION = "extraction"
PRODUCTS = (PARSE, CLASSIFICATION, EXTRACTION)  # the order a document goes through them


@dataclass(frozen=True)
class ProductUsage:
    """One product's bill for one document."""

    product: str
    pages_billed: int
    price_per_page_usd: float
    possibly_billed_twice: int = 0

    @property
    def cost_usd(self) -> float:
        return round(self.pages_billed * self.price_per_page_usd, 6)


def stage_metadata(usages: Sequence[ProductUsage]) -> dict[str, Any]:
    """A stage's billing figures for its materialization: the stage's totals (``pages_billed``,
    ``estimated_cost_usd``, ``possibly_billed_twice``) and each product it billed
    (``pages_billed_<product>``, ``price_per_page_usd_<product>``, ``cost_usd_<product>``), so a
    stage that bills two products (``kie_fields``: classification and extraction) shows both."""
    metadata: dict[str, Any] = {"products": ", ".join(u.product for u in usages),
                                "pages_billed": sum(u.pages_billed for u in usages),
                                "estimated_cost_usd": round(sum(u.cost_usd for u in usages), 4),
                                "possibly_billed_twice": sum(u.possibly_billed_twice for u in usages)}
    for u in usages:
        metadata.update({f"pages_billed_{u.product}": u.pages_billed,
                         f"price_per_page_usd_{u.product}": u.price_per_page_usd,
                         f"cost_usd_{u.product}": round(u.cost_usd, 4)})
    return metadata


def billed_by_product(metadata: Mapping[str, Any]) -> dict[str, tuple[int, float]]:
    """Pages and cost per product read back from ``stage_metadata`` (values or Dagster metadata
    entries); products the stage did not bill are absent."""
    def value(key: str) -> Any:
        entry = metadata.get(key)
        return getattr(entry, "value", entry)

    return {p: (int(value(f"pages_billed_{p}") or 0), float(value(f"cost_usd_{p}") or 0.0))
            for p in PRODUCTS if f"pages_billed_{p}" in metadata}


def write_usage(store: ObjectStore, layout: OutputLayout, document_id: str, usage: ProductUsage) -> str:
    record = {"document_id": document_id, **asdict(usage), "cost_usd": usage.cost_usd}
    return write_tracked(store, layout, layout.usage_key(usage.product, document_id), json.dumps(record).encode())


@dataclass
class UsageTotals:
    pages_billed: dict[str, int]
    cost_usd: dict[str, float]
    possibly_billed_twice: dict[str, int]

    @property
    def total_cost_usd(self) -> float:
        return round(sum(self.cost_usd.values()), 4)

    def as_dict(self) -> dict[str, Any]:
        return {"pages_billed": self.pages_billed, "cost_usd": {k: round(v, 4) for k, v in self.cost_usd.items()},
                "possibly_billed_twice": self.possibly_billed_twice, "estimated_cost_usd": self.total_cost_usd}


def usage_totals_of(totals: Totals) -> UsageTotals:
    """Per-product sums (``storage/summaries.py``'s usage totals) as the figures reports show."""
    usage = UsageTotals({p: 0 for p in PRODUCTS}, {p: 0.0 for p in PRODUCTS}, {p: 0 for p in PRODUCTS})
    for product, figures in totals.items():
        usage.pages_billed[product] = figures.get("pages_billed", 0)
        usage.cost_usd[product] = figures.get("cost_micro_usd", 0) / MICRO
        usage.possibly_billed_twice[product] = figures.get("possibly_billed_twice", 0)
    return usage


def read_usage_totals(store: ObjectStore, layout: OutputLayout) -> UsageTotals:
    """Every document's bill summed per product (the usage summary plus the bills written since
    it was folded; every record before the first fold). An unreadable record is logged and left out."""
    return usage_totals_of(read_summary(store, layout, USAGE).totals)


LOST_SINCE_STORED = "lost_since_stored"  # pages of lost answers not yet followed by a stored result


def _usage_record(store: ObjectStore, layout: OutputLayout, document_id: str, product: str) -> dict[str, Any] | None:
    data = store.read_bytes_if_present(layout.usage_key(product, document_id))
    record = json.loads(data) if data else None
    return record if isinstance(record, dict) else None


def keep_lost_answers(store: ObjectStore, layout: OutputLayout, document_id: str, product: str, pages: int,
                      price_per_page_usd: float) -> None:
    """A stage failed after ``pages`` of its answers were lost (maybe billed, nothing stored): count them
    as possibly billed twice now and carry them to the run that stores the result (``lost_since_stored``).
    The pages billed stay those of the last stored result, if any."""
    record = _usage_record(store, layout, document_id, product) or {
        "document_id": document_id, **asdict(ProductUsage(product, 0, price_per_page_usd)), "cost_usd": 0.0}
    record["possibly_billed_twice"] = int(record.get("possibly_billed_twice") or 0) + pages
    record[LOST_SINCE_STORED] = int(record.get(LOST_SINCE_STORED) or 0) + pages
    write_tracked(store, layout, layout.usage_key(product, document_id), json.dumps(record).encode())


def lost_since_stored(store: ObjectStore, layout: OutputLayout, document_id: str, product: str) -> int:
    """Pages of answers lost by failed attempts at this product since its result was last stored."""
    record = _usage_record(store, layout, document_id, product)
    return int(record.get(LOST_SINCE_STORED) or 0) if record else 0
