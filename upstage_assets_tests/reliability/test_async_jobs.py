"""Async Document Parse jobs that fail, stall, or whose download URLs expire.

Against the emulator's real async flow: each ends in bounded time with a clear, specific,
retryable error recorded for the document, and the same document succeeds once the cause is gone.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.upstage_api.errors import UpstageError
from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument
from upstage_assets_tests.reliability.bad_inputs import pdf_bytes
from upstage_assets_tests.reliability.platform import emulator_client

pytestmark = pytest.mark.serial  # each case must end within 15 wall-clock seconds

KEY = "sentinel-async-key-3Kd8"
DOCUMENT = SourceDocument("async-doc-0001", "three-pages.pdf", pdf_bytes(3, text="Invoice No: AS-1"),
                          "application/pdf", 3)


def _parse(url: str, tmp_path, **client: object) -> tuple[dict | UpstageError, float]:
    resource = emulator_client(base_url=url, api_key=KEY, sync_page_limit=1, rate_limit_store=str(tmp_path / "limits"),
                               **client)
    parser = resource.create_parser()

    async def go() -> dict:
        try:
            return await parser.parse(DOCUMENT, ParseOptions())
        finally:
            await parser.aclose()

    started = time.monotonic()
    try:
        outcome: dict | UpstageError = asyncio.run(go())
    except UpstageError as exc:
        outcome = exc
    return outcome, time.monotonic() - started


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", KEY)


@pytest.mark.parametrize("case, settings, client, code, words", [
    ("job fails", dict(fault_rate_job_failure=1.0, seed=1), {}, "upstage_job_failed", "failed"),
    ("job stalls", dict(async_queue_s=60.0), dict(poll_timeout_s=1.5), "upstage_server_error", "still"),
    ("download URLs expire", dict(download_url_ttl_s=0.0), {}, "upstage_download_expired", "expir"),
])
def test_async_job_trouble_ends_in_bounded_time_with_a_clear_retryable_error(tmp_path, case, settings, client,
                                                                             code, words):
    with run_emulator_in_thread(EmulatorSettings(api_key=KEY, **{"async_queue_s": 0.05, "async_batch_s": 0.05,
                                                                  **settings})) as emulator:
        outcome, seconds = _parse(emulator.url, tmp_path, **client)
    assert isinstance(outcome, UpstageError), f"{case}: expected an error, got a result"
    assert outcome.code == code and words in outcome.message and outcome.retryable, (case, outcome.as_record())
    assert KEY not in outcome.message
    assert seconds < 45, f"{case}: took {seconds:.1f}s, as if it waited out the 60 s stall"


def test_after_the_cause_is_gone_the_same_document_parses(tmp_path):
    with run_emulator_in_thread(EmulatorSettings(api_key=KEY, async_queue_s=0.05, async_batch_s=0.05)) as emulator:
        outcome, _ = _parse(emulator.url, tmp_path)
    assert isinstance(outcome, dict) and outcome["usage"]["pages"] == 3
    assert {e["page"] for e in outcome["elements"]} == {1, 2, 3}
