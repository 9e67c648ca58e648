"""The rate-limit headers the API answers with: kept per endpoint, compared with the configuration.

Upstage says every response carries the rate-limit state in HTTP headers, without naming them
for certain (contract section 7). So every header whose name starts with one of ``prefixes`` is
kept (the last seen per endpoint, for the run's metadata), and the header that states the limit
is configurable, with the window its number counts over. Where it states a limit the client's
configuration disagrees with, the run warns: above it means 429s, below it means paid-for
capacity left unused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_PREFIXES = ("x-ratelimit-", "ratelimit-", "x-rate-limit-")
DEFAULT_LIMIT_HEADER = "x-ratelimit-limit-requests"  # OpenAI-style name; its number counts per minute
TOLERANCE = 0.05  # a configured rate within 5% of the stated one agrees with it


@dataclass
class RateLimitHeaders:
    prefixes: tuple[str, ...] = DEFAULT_PREFIXES
    limit_header: str = DEFAULT_LIMIT_HEADER
    limit_window_s: float = 60.0
    seen: dict[str, dict[str, str]] = field(default_factory=dict)

    def record(self, endpoint: str, headers: Mapping[str, str]) -> None:
        found = {name.lower(): value for name, value in headers.items() if name.lower().startswith(self.prefixes)}
        if found:
            self.seen[endpoint] = found

    def stated_requests_per_second(self, endpoint: str) -> float | None:
        raw = self.seen.get(endpoint, {}).get(self.limit_header.lower())
        try:
            return float(raw) / self.limit_window_s if raw is not None else None
        except ValueError:
            return None

    def disagreements(self, configured_rps: Mapping[str, float]) -> list[str]:
        """One line per endpoint whose configured requests/s differ from what the API states."""
        lines = []
        for endpoint in sorted(self.seen):
            stated, mine = self.stated_requests_per_second(endpoint), configured_rps.get(endpoint)
            if not stated or mine is None or abs(mine - stated) <= TOLERANCE * stated:
                continue
            effect = ("expect 429s" if mine > stated else
                      f"{1 - mine / stated:.0%} of the account's rate is left unused")
            lines.append(f"{endpoint}: the client is configured for {mine:g} requests/s but the API's "
                         f"{self.limit_header} header states {stated:g}/s ({effect}); set the tier "
                         "(UPSTAGE_TIER) or the UPSTAGE_CLIENT_*_REQUESTS_PER_SECOND limit to match")
        return lines
