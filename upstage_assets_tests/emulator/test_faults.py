"""Fault injection: each kind is what a client really sees on the wire, and a seed repeats a run."""

from __future__ import annotations

import json

import httpx
import pytest

from upstage_assets.emulator.faults import FaultInjector
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets_tests.emulator.conftest import AUTH

LIST = "/v1/document-digitization/requests"


def statuses(url: str, count: int) -> list[int]:
    with httpx.Client(base_url=url, headers=AUTH) as client:
        return [client.get(LIST).status_code for _ in range(count)]


def test_same_seed_same_faults_different_seed_different_faults(start_emulator):
    knobs = {"fault_rate_429": 0.2, "fault_rate_5xx": 0.2}
    first = statuses(start_emulator(seed=11, **knobs).url, 40)
    again = statuses(start_emulator(seed=11, **knobs).url, 40)
    other = statuses(start_emulator(seed=12, **knobs).url, 40)
    assert first == again
    assert first != other
    assert set(first) <= {200, 429, 500, 502, 503, 504}
    assert first.count(200) >= 10 and first.count(429) >= 2 and sum(s >= 500 for s in first) >= 2


def test_injected_errors_have_openai_bodies_and_are_counted_apart(start_emulator):
    emulator = start_emulator(seed=3, fault_rate_429=0.5, fault_rate_5xx=0.5)
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        responses = [client.get(LIST) for _ in range(20)]
        stats = client.get("/__emulator__/stats").json()
    for response in responses:
        error = response.json()["error"]
        assert response.status_code in (429, 500, 502, 503, 504)
        assert error["type"] == ("rate_limit_error" if response.status_code == 429 else "server_error")
    injected_429 = sum(r.status_code == 429 for r in responses)
    assert stats["rate_limited_429"] == {"total": injected_429, "rate_limit": 0, "injected": injected_429,
                                         "rate_limit_by_endpoint": {}}
    assert stats["faults_injected"] == {k: v for k, v in {
        "rate_limit_429": injected_429, "server_error_5xx": 20 - injected_429}.items() if v}


def test_truncated_body_breaks_the_connection_mid_body(start_emulator):
    emulator = start_emulator(fault_rate_truncated=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(emulator.url + LIST, headers=AUTH)
    stats = httpx.get(emulator.url + "/__emulator__/stats").json()
    assert stats["faults_injected"] == {"truncated_body": 1}


def test_malformed_body_is_a_200_that_is_not_json(start_emulator):
    emulator = start_emulator(fault_rate_malformed=1.0)
    response = httpx.get(emulator.url + LIST, headers=AUTH)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_timeout_holds_past_the_client_timeout(start_emulator):
    emulator = start_emulator(fault_rate_timeout=1.0, timeout_hold_s=1.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(emulator.url + LIST, headers=AUTH, timeout=0.3)
    patient = httpx.get(emulator.url + LIST, headers=AUTH, timeout=5.0)
    assert patient.status_code == 504 and patient.json()["error"]["code"] == "timeout"


def test_timeout_close_mode_drops_the_connection(start_emulator):
    emulator = start_emulator(fault_rate_timeout=1.0, timeout_hold_s=0.2, timeout_mode="close")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(emulator.url + LIST, headers=AUTH, timeout=5.0)


def test_faults_spare_auth_failures_and_the_harness_routes(start_emulator):
    emulator = start_emulator(fault_rate_5xx=1.0)
    assert httpx.get(emulator.url + LIST).status_code == 401
    assert httpx.get(emulator.url + "/__emulator__/stats").status_code == 200


def test_fault_rates_over_one_are_refused():
    with pytest.raises(ValueError):
        FaultInjector(EmulatorSettings(fault_rate_429=0.6, fault_rate_5xx=0.6))


@pytest.mark.serial  # a latency window in wall-clock seconds
def test_latency_floor_with_jitter(start_emulator):
    import time

    emulator = start_emulator(latency_s=0.3, latency_jitter_s=0.1, seed=1)
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        started = time.monotonic()
        client.get(LIST)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.3  # the floor is the emulator's own sleep, never the machine's speed
    assert elapsed < 10.0, "jitter of 0.1 s must not turn into a stall"
