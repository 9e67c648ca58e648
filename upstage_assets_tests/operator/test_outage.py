"""Issue 22, defect 5: an outage pauses the batch (circuit breaker) instead of burning every document's retries."""

from __future__ import annotations

import asyncio
import threading

import pytest

from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.upstage_api.circuit import BreakerSettings, CircuitBreaker
from upstage_assets.upstage_api.errors import UpstageUnreachable
from upstage_assets.upstage_api.http import RetryPolicy, UpstageHttp
from upstage_assets_tests.fixtures.ports import free_port

PATH = "/v1/document-digitization/requests"
FAST_RETRIES = RetryPolicy(max_attempts=2, base_delay_s=0.05, max_delay_s=0.1, max_total_s=5)


def _http(port: int, breaker: CircuitBreaker) -> UpstageHttp:
    return UpstageHttp(f"http://127.0.0.1:{port}", "k", retry=FAST_RETRIES, breaker=breaker)


def test_requests_wait_out_an_outage_without_spending_their_attempts():
    """Nothing listens on the port for 3 s (an outage), then the emulator starts there."""
    port = free_port()
    changes: list[str] = []
    breaker = CircuitBreaker(BreakerSettings(threshold=2, base_pause_s=0.3, max_pause_s=1.0, max_outage_s=60),
                             on_change=lambda endpoint, text: changes.append(text))
    http = _http(port, breaker)
    handles = []
    starter = threading.Timer(3.0, lambda: handles.append(run_emulator_in_thread(port=port)))
    starter.start()
    try:
        async def many() -> list[int]:
            answers = await asyncio.gather(*[http.request("GET", PATH, endpoint="poll") for _ in range(4)])
            await http.aclose()
            return [a.status_code for a in answers]

        assert asyncio.run(many()) == [200] * 4, "with 2 attempts each, every request would have failed"
    finally:
        starter.join()
        for handle in handles:
            handle.stop()
    assert changes[0].startswith("paused: every poll request fails (ConnectError)"), changes
    assert changes[-1] == "ok" and breaker.paused_s > 0


def test_after_its_limit_the_breaker_gives_up_and_the_document_fails_retryably():
    changes: list[str] = []
    breaker = CircuitBreaker(BreakerSettings(threshold=2, base_pause_s=0.2, max_pause_s=0.4, max_outage_s=1.0),
                             on_change=lambda endpoint, text: changes.append(text))
    http = _http(free_port(), breaker)
    with pytest.raises(UpstageUnreachable) as caught:
        asyncio.run(http.request("GET", PATH, endpoint="poll"))
    assert caught.value.retryable and "cannot connect to" in caught.value.message
    assert changes[0].startswith("paused:") and "giving up on this outage" in changes[-1], changes
