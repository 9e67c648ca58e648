"""The account's limits by Upstage commitment tier (contract section 7), as client settings.

Upstage assigns rate limits by the organization's commitment tier: pay-as-you-go, Explore
($100+/month), Build ($500+) and Scale ($5,000+). A client left on tier-0 numbers uses a
fraction of what a higher tier pays for, so ``UPSTAGE_TIER`` picks every endpoint's limits at
once; any single ``UPSTAGE_CLIENT_<FIELD>`` still overrides its own field.

What the documentation states, and what is filled in:
- Information Extraction: base 1 request/s; Explore 10, Build 20, Scale 40 requests/s.
- Document Parse: tier 0 is 1 request/s and 300 pages/min sync, 2 requests/s and 1,200 pages/min
  async; the current quickstart says 3 / 6 requests/s. No per-tier Document Parse table is
  published, so committed tiers get the quickstart's 3 / 6 with the tier-0 page limits: set
  ``UPSTAGE_CLIENT_PARSE_REQUESTS_PER_SECOND`` (and the pages) to what your console shows.
- Requests in flight are sized for answers taking up to about three seconds at the tier's rate.
"""

from __future__ import annotations

import math

TIER_ENV = "UPSTAGE_TIER"
ANSWER_SECONDS = 3.0  # typical slow answer the in-flight cap must cover at full rate

_PARSE_TIER0 = {"parse_requests_per_second": 1.0, "parse_pages_per_minute": 300.0,
                "async_requests_per_second": 2.0, "async_pages_per_minute": 1200.0}
_PARSE_COMMITTED = {**_PARSE_TIER0, "parse_requests_per_second": 3.0, "async_requests_per_second": 6.0}
_EXTRACT_RPS = {"payg": 1.0, "explore": 10.0, "build": 20.0, "scale": 40.0}

TIERS: tuple[str, ...] = tuple(_EXTRACT_RPS)


def tier_limits(tier: str) -> dict[str, float | int]:
    """``UpstageClient`` fields for ``tier`` (payg, explore, build, scale)."""
    name = tier.strip().lower()
    if name not in _EXTRACT_RPS:
        raise ValueError(f"{TIER_ENV}={tier!r} is not a tier; use one of {', '.join(TIERS)}")
    limits: dict[str, float | int] = dict(_PARSE_TIER0 if name == "payg" else _PARSE_COMMITTED)
    limits["extract_requests_per_second"] = _EXTRACT_RPS[name]
    busiest = float(limits["parse_requests_per_second"]) + _EXTRACT_RPS[name]
    in_flight = max(8, math.ceil(busiest * ANSWER_SECONDS))
    limits["max_in_flight"] = in_flight
    limits["max_connections"] = max(20, in_flight)
    return limits
