"""Run in a separate process: send requests through a limiter shared by state directory (or URL)."""

from __future__ import annotations

import asyncio
import time

import httpx

from upstage_assets.upstage_api.rate_limiter import EndpointLimits, RateLimiter
from upstage_assets.upstage_api.shared_state import open_state_store


def send_through_shared_limiter(url: str, state: str, requests: int, rps: float, start_at: float,
                                concurrency: int = 4, max_skew_s: float = 1.0) -> tuple[int, list[float]]:
    """Wait until ``start_at`` (so processes compete), then send ``requests`` POSTs.

    Returns the successes and the times the limiter let each request go.
    """
    store = open_state_store(state)
    limiter = RateLimiter(store, {"information-extraction": EndpointLimits(rps)}, max_in_flight=concurrency,
                          max_skew_s=max_skew_s)
    released: list[float] = []

    async def main() -> int:
        async with httpx.AsyncClient() as client:
            async def one(i: int) -> int:
                async with limiter.slot("information-extraction"):
                    released.append(time.time())
                    response = await client.post(f"{url}/v1/information-extraction", json={"i": i})
                return int(response.status_code == 200)

            return sum(await asyncio.gather(*(one(i) for i in range(requests))))

    time.sleep(max(0.0, start_at - time.time()))
    try:
        return asyncio.run(main()), released
    finally:
        store.close()


def open_store_at(state: str, start_at: float) -> str:
    """Wait until ``start_at``, then open the shared store (every process at once, on a new file)."""
    time.sleep(max(0.0, start_at - time.time()))
    open_state_store(state).close()
    return "opened"
