"""Spend limits per run and per day, checked before a document is sent.

The cost of a document is known before sending: its page count (from inspection) times the
price per page. It is reserved in the shared state store in one transaction with the check,
so concurrent runs on the host (or hosts, with PostgreSQL) cannot overshoot together. A
document that would pass a limit raises ``BudgetExceeded``: retryable, so it stays pending
for a later run or a raised limit. After the response, the reservation is settled to the
pages actually billed; on a failure that was not billed it is released.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from upstage_assets.errors import BudgetExceeded
from upstage_assets.upstage_api.shared_state import SharedStateStore, SpendCharge

logger = logging.getLogger("upstage_assets.budget")


@dataclass(frozen=True)
class Reservation:
    document_id: str
    amount_usd: float
    scopes: tuple[str, ...]


def utc_day(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d")


@dataclass
class SpendBudget:
    """``per_run_usd`` / ``per_day_usd`` of ``None`` mean no limit; warnings fire once per threshold."""

    store: SharedStateStore
    run_id: str
    per_run_usd: float | None = None
    per_day_usd: float | None = None
    warn_at: Sequence[float] = (0.5, 0.9)
    on_warning: Callable[[str], None] | None = None
    account: str = "default"
    today: Callable[[], str] = field(default=utc_day, repr=False)

    def run_scope(self) -> str:
        return f"{self.account}:run:{self.run_id}"

    def day_scope(self) -> str:
        return f"{self.account}:day:{self.today()}"

    def reserve(self, document_id: str, pages: int, price_per_page: float) -> Reservation:
        """Count the document's cost against both limits, or raise ``BudgetExceeded`` and count nothing."""
        amount = max(0, pages) * price_per_page
        limits = {self.run_scope(): self.per_run_usd, self.day_scope(): self.per_day_usd}
        charges = [SpendCharge(scope, limit) for scope, limit in limits.items()]
        accepted, totals = self.store.add_spend(amount, charges)
        if not accepted:
            raise BudgetExceeded(self._refusal(document_id, pages, price_per_page, amount, totals))
        for scope, limit in limits.items():
            self._warn_on_crossing(scope, limit, totals[scope] - amount, totals[scope])
        return Reservation(document_id, amount, tuple(limits))

    def settle(self, reservation: Reservation, billed_pages: int, price_per_page: float) -> float:
        """Correct the reservation to what was billed; returns the correction (may be negative)."""
        delta = billed_pages * price_per_page - reservation.amount_usd
        if abs(delta) > 1e-12:
            self.store.add_spend(delta, [SpendCharge(scope, None) for scope in reservation.scopes])
        return delta

    def release(self, reservation: Reservation) -> None:
        """Give the money back: the request failed before anything was billed."""
        if reservation.amount_usd:
            self.store.add_spend(-reservation.amount_usd, [SpendCharge(s, None) for s in reservation.scopes])

    def spent(self) -> dict[str, float]:
        return {"run_usd": self.store.spend(self.run_scope()), "day_usd": self.store.spend(self.day_scope())}

    def _refusal(self, document_id: str, pages: int, price: float, amount: float,
                 totals: dict[str, float]) -> str:
        parts = []
        for scope, limit, label in ((self.run_scope(), self.per_run_usd, "run"),
                                    (self.day_scope(), self.per_day_usd, "daily")):
            if limit is not None and totals[scope] + amount > limit + 1e-9:
                parts.append(f"{label} spend ${totals[scope]:.4f} + ${amount:.4f} would pass the "
                             f"{label} limit ${limit:.2f}")
        return (f"document {document_id} ({pages} pages x ${price:.4f}/page = ${amount:.4f}) not sent: "
                + "; ".join(parts) + ". It stays pending; raise the limit or wait for the next day/run.")

    def _warn_on_crossing(self, scope: str, limit: float | None, before: float, after: float) -> None:
        if not limit:
            return
        for fraction in sorted(self.warn_at):
            threshold = fraction * limit
            if before < threshold <= after:
                message = (f"Upstage spend for {scope.split(':')[1]} scope reached {fraction:.0%} of its "
                           f"${limit:.2f} limit (${after:.4f} spent)")
                (self.on_warning or logger.warning)(message)
