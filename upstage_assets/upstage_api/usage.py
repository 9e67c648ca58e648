"""Pages billed and what they cost, per document and per run.

Upstage bills pages, reported as ``usage.pages`` (Document Parse, Information Extraction) or
``numBilledPages`` (OCR, prebuilt extraction); contract section 7. Prices are not published
in one place, so they are configuration, with the commonly quoted per-page rates as defaults.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

# USD per page (contract section 7, third-party figures). Information Extraction has no
# published per-page price; the Document Parse standard rate is a placeholder to override.
DEFAULT_PRICES_PER_PAGE: dict[str, float] = {
    "document-parse": 0.01,
    "document-parse-enhanced": 0.03,
    "ocr": 0.0015,
    "information-extract": 0.01,
    "information-extract-enhanced": 0.03,
    "prebuilt-extraction": 0.01,
    "document-classify": 0.01,  # a guess: no published Document Classification rate was found
}


def price_key(endpoint: str, mode: str = "standard") -> str:
    """Which price applies: ``enhanced`` (and ``auto``, which may pick it) costs the enhanced rate."""
    if mode in ("enhanced", "auto") and f"{endpoint}-enhanced" in DEFAULT_PRICES_PER_PAGE:
        return f"{endpoint}-enhanced"
    return endpoint


def pages_billed(response: dict[str, Any], fallback: int = 0) -> int:
    """Billed pages from any Upstage response shape; ``fallback`` when the response names none."""
    usage = response.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("pages"), int | float):
        return int(usage["pages"])
    if isinstance(response.get("numBilledPages"), int | float):
        return int(response["numBilledPages"])
    return fallback


@dataclass(frozen=True)
class UsageRecord:
    document_id: str
    endpoint: str
    model: str
    pages: int
    cost_usd: float


@dataclass
class UsageLedger:
    """Everything this process billed; thread-safe so concurrent tasks can record into it."""

    prices: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES_PER_PAGE))
    records: list[UsageRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def price(self, key: str) -> float:
        return self.prices.get(key, self.prices.get(key.removesuffix("-enhanced"), 0.0))

    def record(self, document_id: str, endpoint: str, response: dict[str, Any],
               *, mode: str = "standard", fallback_pages: int = 0) -> UsageRecord:
        pages = pages_billed(response, fallback_pages)
        model = str(response.get("model") or response.get("modelVersion") or endpoint)
        entry = UsageRecord(document_id, endpoint, model, pages, pages * self.price(price_key(endpoint, mode)))
        with self._lock:
            self.records.append(entry)
        return entry

    def pages_for(self, document_id: str) -> int:
        with self._lock:
            return sum(r.pages for r in self.records if r.document_id == document_id)

    def totals(self) -> dict[str, Any]:
        """Run totals for run metadata: documents, pages and estimated USD, overall and per endpoint."""
        with self._lock:
            records = list(self.records)
        by_endpoint: dict[str, dict[str, float]] = {}
        for r in records:
            bucket = by_endpoint.setdefault(r.endpoint, {"calls": 0, "pages": 0, "cost_usd": 0.0})
            bucket["calls"] += 1
            bucket["pages"] += r.pages
            bucket["cost_usd"] = round(bucket["cost_usd"] + r.cost_usd, 6)
        return {
            "documents": len({r.document_id for r in records}),
            "pages": sum(r.pages for r in records),
            "cost_usd": round(sum(r.cost_usd for r in records), 6),
            "by_endpoint": by_endpoint,
        }

    def as_rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self.records]
