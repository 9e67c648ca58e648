"""What each document cost, per product: the one place billed pages are counted and priced.

Upstage bills two products a document goes through: Document Parse (``parse``: the parse or
OCR response's ``usage.pages`` / ``numBilledPages``) and Information Extraction
(``extraction``: the extraction response's billed pages). Each is priced with its own price
per page from the client's configuration. A stage writes one small record per document and
product under ``usage/<product>/<id>.json``; run tags, materialization metadata, alerts and
``upstage-assets status`` all read these figures, so they agree.

``possibly_billed_twice`` counts pages of requests sent again after an answer was lost
(a timeout or dropped connection after the server may have processed them): the server may
have billed them once more than the result shows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.summaries import MICRO, USAGE, Totals, read_summary, write_tracked

logger = logging.getLogger(__name__)

PARSE = "parse"
EXTRACTION = "extraction"
PRODUCTS = (PARSE, EXTRACTION)


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

    def metadata(self) -> dict[str, Any]:
        """The figures a stage's materialization shows (the same keys the alerts and tags read)."""
        return {"product": self.product, "pages_billed": self.pages_billed,
                "price_per_page_usd": self.price_per_page_usd, "estimated_cost_usd": round(self.cost_usd, 4),
                "possibly_billed_twice": self.possibly_billed_twice}


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
