"""Against the emulator under load: four processes share its 10 RPS; injected faults are survived."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from upstage_assets.upstage_api.document_parse import parse_form
from upstage_assets.upstage_api.parser import ParseOptions
from upstage_assets_tests.fixtures.pools import process_pool

from .documents import make_pdf, pdf_document
from .load_worker import parse_many


@contextmanager
def emulator_process(*args: str) -> Iterator[str]:
    """The emulator in its own process (``python -m upstage_assets.emulator``): its event loop
    then shares no interpreter lock with this test process's threads."""
    process = subprocess.Popen([sys.executable, "-m", "upstage_assets.emulator", "--port", "0",
                                "--async-queue-s", "0.05", "--async-batch-s", "0.05", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if "listening on" not in line:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def warm_up_engine_cache(url: str, document_ids: list[str]) -> None:
    """Parse each distinct content once, slowly, then clear the stats and let the window pass.

    The rate test measures the client's limiter; the emulator's engine work would otherwise
    stall its event loop (same process, shared GIL) and bunch arrivals no client bunched.
    """
    async def warm() -> None:
        async with httpx.AsyncClient() as client:
            for doc_id in document_ids:
                response = await client.post(
                    f"{url}/v1/document-digitization", headers={"Authorization": "Bearer up_warm"},
                    data=parse_form(ParseOptions()),
                    files={"document": (f"{doc_id}.pdf", make_pdf(1, tag=doc_id), "application/pdf")})
                assert response.status_code == 200, response.text
                await asyncio.sleep(0.15)

    asyncio.run(warm())
    time.sleep(1.2)
    httpx.post(f"{url}/__emulator__/stats/reset")


# A send holds its rate-limit slot until its answer (the emulator counts a request when it reads
# it), at most max_skew_s: 1 s covers the stalls of this shared 2-core host at load average 10-15,
# and costs nothing while the emulator answers promptly.
LIMITED = {"parse_requests_per_second": 10.0, "parse_pages_per_minute": 1e6, "max_in_flight": 8,
           "rate_limit_max_skew_s": 1.0}


@pytest.mark.serial  # the emulator measures the peak rate
@pytest.mark.slow
def test_four_processes_stay_under_the_emulator_rate_limit(tmp_path):
    with emulator_process("--rps-limits", "document-parse=10") as url:
        check_four_processes_under_the_rate_limit(url, tmp_path)


def check_four_processes_under_the_rate_limit(url: str, tmp_path) -> None:
    warm_up_engine_cache(url, [f"p{n}-{i:03d}" for n in range(4) for i in range(5)])
    start_at = time.time() + 3.0
    with process_pool(4) as pool:
        jobs = [pool.apply_async(parse_many, (url, str(tmp_path / "shared"), f"p{n}", 50, LIMITED,
                                              start_at, 5)) for n in range(4)]
        reports = [job.get(timeout=120) for job in jobs]
    stats = httpx.get(f"{url}/__emulator__/stats").json()
    outcomes = {doc: outcome for report in reports for doc, outcome in report["outcomes"].items()}
    print(f"peak {stats['peak_rps_by_endpoint']}, 429s {stats['rate_limited_429']}, "
          f"requests {stats['requests_by_endpoint']}, "
          f"wall {max(r['usage']['rate_limit_wait_s'] for r in reports):.1f} s waited (max per process)")
    assert len(outcomes) == 200 and set(outcomes.values()) == {"ok"}
    assert stats["rate_limited_429"]["rate_limit"] == 0
    assert stats["peak_rps_by_endpoint"]["document-parse"] <= 11  # within 10% of the limit
    assert stats["requests_by_endpoint"]["document-parse"] == 200  # no retries were needed


def test_injected_429_and_5xx_every_document_succeeds_exactly_once(start_emulator, make_client):
    emulator = start_emulator(fault_rate_429=0.2, fault_rate_5xx=0.05, seed=11)
    parser = make_client(emulator.url, max_attempts=10).create_parser(run_id="faults")
    sources = [pdf_document(f"f-{i:02d}") for i in range(40)]

    async def parse_all() -> list[dict]:
        return await asyncio.gather(*(parser.parse(s, ParseOptions()) for s in sources))

    responses = asyncio.run(parse_all())
    assert all(s.document_id in r["content"]["text"] for s, r in zip(sources, responses, strict=True))
    stats = httpx.get(f"{emulator.url}/__emulator__/stats").json()
    faults = stats["faults_injected"]
    assert faults.get("rate_limit_429", 0) > 0 and faults.get("server_error_5xx", 0) > 0
    # Each document was processed (and billed) exactly once: faulted attempts never reach the engine.
    assert stats["pages_processed_by_endpoint"]["document-parse"] == 40
    assert stats["requests_by_endpoint"]["document-parse"] == 40 + sum(faults.values())
    usage = parser.usage()
    assert usage["documents"] == 40 and usage["pages"] == 40
    assert parser.ledger.pages_for("f-07") == 1
    assert usage["retries"] == sum(faults.values())
