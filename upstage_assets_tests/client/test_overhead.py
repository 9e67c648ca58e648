"""What the client adds per request (limiter transactions, retries bookkeeping) over raw httpx."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest

from upstage_assets.upstage_api.parser import ParseOptions
from upstage_assets.upstage_api.shared_state import SqliteStateStore

from .conftest import SENTINEL_KEY, make_http
from .documents import pdf_document

REQUESTS = 150


def paired_overhead_ms(baseline, candidates: dict) -> dict[str, float]:
    """Median extra milliseconds per call of each candidate over the baseline, calls interleaved.

    Interleaving makes a shared machine's changing load hit both sides alike.
    """
    async def measure() -> dict[str, float]:
        extra: dict[str, list[float]] = {name: [] for name in candidates}
        timings: dict[str, list[float]] = {"baseline": [], **{name: [] for name in candidates}}
        await baseline()
        for send in candidates.values():
            await send()  # warm connections and the state file
        for _ in range(REQUESTS):
            started = time.perf_counter()
            await baseline()
            base = time.perf_counter() - started
            timings["baseline"].append(base)
            for name, send in candidates.items():
                started = time.perf_counter()
                await send()
                elapsed = time.perf_counter() - started
                timings[name].append(elapsed)
                extra[name].append(elapsed - base)
        result = {name: statistics.median(values) * 1000 for name, values in extra.items()}
        result.update({f"{name} median ms": statistics.median(v) * 1000 for name, v in timings.items()})
        return result

    return asyncio.run(measure())


@pytest.mark.serial  # medians in milliseconds
@pytest.mark.slow
def test_client_overhead_per_request(start_emulator, make_client, tmp_path):
    emulator = start_emulator()
    parser = make_client(emulator.url, sync_page_limit=0).create_parser()
    try:  # an async job gives a cheap authenticated GET that needs no engine
        asyncio.run(parser.parse(pdf_document("job"), ParseOptions()))
    except Exception:  # noqa: S110 - only the request id matters
        pass
    request_id = next(iter(httpx.get(f"{emulator.url}/v1/document-digitization/requests",
                                     headers={"Authorization": "Bearer up_x"}).json()["requests"]))["id"]
    path = f"/v1/document-digitization/requests/{request_id}"
    headers = {"Authorization": f"Bearer {SENTINEL_KEY}"}
    raw_client: dict[str, httpx.AsyncClient] = {}

    async def raw() -> None:
        loop_client = raw_client.get("c")
        if loop_client is None or loop_client.is_closed:
            loop_client = raw_client["c"] = httpx.AsyncClient()
        response = await loop_client.get(f"{emulator.url}{path}", headers=headers)
        response.json()

    bare = make_http(emulator.url)
    limited = make_http(emulator.url, SqliteStateStore(tmp_path / "bench"), rps=1e6)
    result = paired_overhead_ms(raw, {
        "UpstageHttp": lambda: bare.get_json(path, endpoint="poll"),
        "UpstageHttp + shared limiter": lambda: limited.get_json(path, endpoint="poll"),
    })
    print("client overhead per request (median ms over raw httpx, interleaved): "
          + ", ".join(f"{k} {v:.2f}" for k, v in result.items()))
    assert result["UpstageHttp"] < 2.0
    assert result["UpstageHttp + shared limiter"] < 5.0
