"""What the client adds per request over raw httpx: retries bookkeeping, the shared limiter.

    python bench/client_overhead.py [--requests 300]

Every round sends one raw ``httpx`` GET (the baseline) and then one through each client
configuration to the same emulator endpoint, interleaved, so a shared machine's changing load
hits all sides alike; it prints the median extra milliseconds per request of each over the
baseline and the ratio of their medians. (Formerly a test with millisecond ceilings: a speed
belongs here, measured side by side, never as a timed assertion.)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.upstage_api.http import UpstageHttp
from upstage_assets.upstage_api.rate_limiter import EndpointLimits, RateLimiter
from upstage_assets.upstage_api.shared_state import SqliteStateStore

KEY = "up_bench0123456789abcdef"
PATH = "/v1/document-digitization/requests"  # authenticated, cheap, no engine work

Send = Callable[[], Awaitable[object]]


async def _measure(candidates: dict[str, Send], baseline: Send, requests: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"raw httpx": [], **{name: [] for name in candidates}}
    for send in (baseline, *candidates.values()):
        await send()  # warm connections and the state file
    for _ in range(requests):
        for name, send in (("raw httpx", baseline), *candidates.items()):
            started = time.perf_counter()
            await send()
            timings[name].append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    handle = run_emulator_in_thread(EmulatorSettings(api_key=KEY))
    work = Path(tempfile.mkdtemp(prefix="client-overhead-"))
    store = SqliteStateStore(work / "limits")
    limits = {"poll": EndpointLimits(1e6)}
    bare = UpstageHttp(handle.url, KEY)
    limited = UpstageHttp(handle.url, KEY, limiter=RateLimiter(store, limits))

    async def run() -> dict[str, list[float]]:
        async with httpx.AsyncClient() as raw_client:
            async def raw() -> None:
                (await raw_client.get(f"{handle.url}{PATH}", headers={"Authorization": f"Bearer {KEY}"})).json()

            return await _measure({"UpstageHttp": lambda: bare.get_json(PATH, endpoint="poll"),
                                   "UpstageHttp + shared limiter": lambda: limited.get_json(PATH, endpoint="poll")},
                                  raw, args.requests)

    try:
        timings = asyncio.run(run())
    finally:
        store.close()
        handle.stop()
    base = statistics.median(timings["raw httpx"])
    print(f"{args.requests} interleaved rounds; median ms per request (extra over raw httpx, ratio):")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"  {name:30s} {median * 1000:7.2f} ms  (+{(median - base) * 1000:.2f} ms, x{median / base:.2f})")


if __name__ == "__main__":
    main()
