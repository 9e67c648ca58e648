"""What the account's limits allow a run: documents per second, and which endpoint holds it there.

Each document costs one Document Parse and one Information Extraction request, and with
``document_types: check`` (the default) one Document Classification request too: a model Upstage limits
apart (100 requests per minute), with a client default of 1 request/s. The slowest of them sets the pace
whatever the tier, so a user who set extraction to Scale's 40 req/s and left classification alone runs at
one document per second. The step says the bound once, and warns when classification alone holds it below
what parsing and extraction allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upstage_assets.defs.pipeline.routing import CHECK, DocumentTypePolicy

PARSE, EXTRACTION, CLASSIFICATION = "document-parse", "information-extraction", "document-classification"
NAMES = {PARSE: "Document Parse", EXTRACTION: "Information Extraction", CLASSIFICATION: "Document Classification"}


@dataclass(frozen=True)
class RateBound:
    docs_per_s: float
    endpoint: str  # the slowest endpoint every document calls
    others: dict[str, float]  # the other endpoints' request rates


def rate_bound(limits: Mapping[str, Any], classifies_every_document: bool, extracts: bool = True) -> RateBound | None:
    """The documents/s the request limits allow (one request per document on each endpoint used)."""
    used = [PARSE, EXTRACTION] if extracts else [PARSE]
    if extracts and classifies_every_document:
        used.append(CLASSIFICATION)
    rates = {name: float(limits[name].requests_per_second) for name in used if name in limits}
    if not rates:
        return None
    slowest = min(rates, key=lambda name: rates[name])
    return RateBound(rates[slowest], slowest, {name: rate for name, rate in rates.items() if name != slowest})


def say_rate_bound(log: Any, parser_resource: object, policy: DocumentTypePolicy,
                   extracts: bool = True) -> RateBound | None:
    """Log the run's bound (the Upstage client only: the local engine has no account limits); ``extracts``:
    the run's stages include extraction (and so classification)."""
    endpoint_limits = getattr(parser_resource, "endpoint_limits", None)
    if endpoint_limits is None:
        return None
    bound = rate_bound(endpoint_limits(), policy.mode == CHECK, extracts)
    if bound is None:
        return None
    message = (f"the account's request limits allow at most {bound.docs_per_s:g} documents/s: "
               f"{NAMES[bound.endpoint]} at {bound.docs_per_s:g} req/s"
               + "".join(f", {NAMES[name]} {rate:g}" for name, rate in bound.others.items()))
    if bound.endpoint == CLASSIFICATION and any(rate > bound.docs_per_s for rate in bound.others.values()):
        log.warning(message + "; document_types=check classifies every document (Upstage allows 100 requests "
                    "per minute): set document_types: off to skip the check, or "
                    "UPSTAGE_CLIENT_CLASSIFY_REQUESTS_PER_SECOND to your account's limit")
    else:
        log.info(message)
    return bound
