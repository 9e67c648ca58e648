"""A worker for the multi-process budget tests (spawned processes import it by module)."""

from __future__ import annotations

from upstage_assets.errors import BudgetExceeded
from upstage_assets.upstage_api.budget import SpendBudget
from upstage_assets.upstage_api.shared_state import open_state_store


def reserve_many(location: str, count: int) -> int:
    """Reserve ``count`` $0.50 documents against a $10 run budget; how many were accepted.
    ``location`` is a state directory (SQLite) or a PostgreSQL URL; used from worker processes."""
    budget = SpendBudget(open_state_store(location), "shared-run", per_run_usd=10.0)
    accepted = 0
    for i in range(count):
        try:
            budget.reserve(f"doc-{i}", 1, 0.5)
            accepted += 1
        except BudgetExceeded:
            pass
    return accepted
