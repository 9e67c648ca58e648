"""Why the chaos run paid an answer twice: in flight at the SIGKILL, or recorded by the client.

The chaos run bills some answers twice by design of its faults, for two reasons only:

- the worker is SIGKILLed with documents mid-stage: an answer the emulator computes (and bills)
  for a request of the dead worker is never stored, and recovery asks again;
- the client gives up on an answer (the deliberately tight read timeout) that the emulator
  still computes and bills, and sends the request again: the client counts those pages as
  ``possibly_billed_twice`` in the document's usage record.

``in_flight_at_kill`` is measured right after the kill, before any recovery run: per document
and endpoint group, an answer billed for a stage the document had not materialized, unless the
killed run had already recorded the document's failure (then it was not in flight). ``unexplained``
is every paid-twice document with an endpoint billed more than once for neither reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster import DagsterInstance

from upstage_assets.defs.pipeline.keys import KIE_FIELDS, PARSED_LAYOUTS
from upstage_assets.resources.upstage_client import PRODUCT_ENDPOINTS
from upstage_assets.storage.billing import CLASSIFICATION, EXTRACTION, PARSE, PRODUCTS
from upstage_assets.storage.failures import read_failures
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore

STAGE_OF_PRODUCT = {PARSE: PARSED_LAYOUTS, CLASSIFICATION: KIE_FIELDS, EXTRACTION: KIE_FIELDS}
Pair = tuple[str, str]  # (document id, endpoint group or product)


def product_of(group: str) -> str | None:
    return next((product for product, groups in PRODUCT_ENDPOINTS.items() if group in groups), None)


def wait_for_answers_in_flight(stats: Callable[[], dict[str, Any]], timeout_s: float = 60.0) -> None:
    """Until the emulator has answered every request it received (those of the dead worker too)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        snapshot = stats()
        if snapshot["requests_total"] <= sum(snapshot["responses_by_status"].values()):
            return
        time.sleep(0.2)


def in_flight_at_kill(instance: DagsterInstance, billed: dict[str, dict[str, int]], outputs: Path,
                      killed_run_id: str) -> set[Pair]:
    """(document, endpoint group) pairs billed (``billing.billed_answers`` right after the kill) for a
    stage the killed worker had not finished."""
    done = {product: instance.get_materialized_partitions(stage) for product, stage in STAGE_OF_PRODUCT.items()}
    failed_there = {r["document_id"] for r in read_failures(LocalObjectStore(outputs), OutputLayout()).to_pylist()
                    if r["run_id"] == killed_run_id}
    pairs = set()
    for document_id, groups in billed.items():
        if document_id in failed_there:
            continue
        for group in groups:
            product = product_of(group)
            if product is None or document_id not in done[product]:
                pairs.add((document_id, group))
    return pairs


def recorded_billed_twice(outputs: Path, documents: list[str]) -> set[Pair]:
    """(document, product) pairs whose usage record counts pages possibly billed twice."""
    store, layout = LocalObjectStore(outputs), OutputLayout()
    pairs = set()
    for document_id in documents:
        for product in PRODUCTS:
            key = layout.usage_key(product, document_id)
            if store.exists(key) and int(json.loads(store.read_bytes(key)).get("possibly_billed_twice") or 0) > 0:
                pairs.add((document_id, product))
    return pairs


def unexplained(billed: dict[str, dict[str, int]], paid_twice: list[str], in_flight: set[Pair],
                recorded: set[Pair]) -> list[str]:
    """Paid-twice documents with an endpoint billed more than once neither in flight nor recorded."""
    return sorted(d for d in paid_twice
                  if any(n > 1 and (d, group) not in in_flight and (d, product_of(group) or "") not in recorded
                         for group, n in billed.get(d, {}).items()))
