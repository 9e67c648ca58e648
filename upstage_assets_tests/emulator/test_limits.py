"""RPS and PPM limits: 429 with an OpenAI-style body when exceeded, recovery once the window passes."""

from __future__ import annotations

import time

import httpx

from upstage_assets.emulator.limits import SlidingWindowLimit, rps_limit
from upstage_assets.emulator.settings import EmulatorSettings, parse_group_limits
from upstage_assets_tests.emulator.conftest import AUTH, make_pdf


def test_rps_limit_answers_429_then_recovers(start_emulator):
    emulator = start_emulator(rps_limits={"requests": 3})
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        statuses = [client.get("/v1/document-digitization/requests").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        limited = client.get("/v1/document-digitization/requests")
        assert limited.status_code == 429
        error = limited.json()["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
        assert "3 requests per second" in error["message"]
        time.sleep(1.05)
        assert client.get("/v1/document-digitization/requests").status_code == 200
        stats = client.get("/__emulator__/stats").json()
    assert stats["rate_limited_429"] == {"total": 3, "rate_limit": 3, "injected": 0,
                                         "rate_limit_by_endpoint": {"requests": 3}}
    assert stats["peak_rps_by_endpoint"]["requests"] == 6  # arrivals, rejected ones included


def test_limits_are_per_endpoint_group(start_emulator):
    emulator = start_emulator(rps_limits={"information-extraction-async": 1})
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        assert [client.get("/v1/document-digitization/requests").status_code for _ in range(4)] == [200] * 4


def test_a_client_pacing_under_the_limit_never_sees_429(start_emulator):
    emulator = start_emulator(rps_limits={"requests": 4})
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        statuses = []
        for _ in range(8):
            statuses.append(client.get("/v1/document-digitization/requests").status_code)
            time.sleep(0.26)
        stats = client.get("/__emulator__/stats").json()
    assert statuses == [200] * 8
    assert stats["peak_rps_by_endpoint"]["requests"] <= 4


def test_pages_per_minute_limit_counts_pages_not_requests(start_emulator):
    emulator = start_emulator(ppm_limits={"document-parse-async": 5})
    four_pages = make_pdf(4)
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        def submit() -> httpx.Response:
            return client.post("/v1/document-digitization/async", data={"model": "document-parse"},
                               files={"document": ("d.pdf", four_pages, "application/pdf")})

        assert submit().status_code == 200
        refused = submit()
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "page_limit_exceeded"
        assert "5 pages per minute" in refused.json()["error"]["message"]
        stats = client.get("/__emulator__/stats").json()
    assert stats["pages_processed_by_endpoint"] == {"document-parse-async": 4}
    assert stats["rate_limited_429"]["rate_limit_by_endpoint"] == {"document-parse-async": 1}


def test_a_document_bigger_than_the_page_budget_is_refused_outright(start_emulator):
    emulator = start_emulator(ppm_limits={"document-parse-async": 2})
    response = httpx.post(emulator.url + "/v1/document-digitization/async", headers=AUTH,
                          data={"model": "document-parse"}, files={"document": ("d.pdf", make_pdf(3))})
    assert response.status_code == 429
    assert "exceed" in response.json()["error"]["message"]


def test_sliding_window_with_a_fake_clock():
    now = [0.0]
    window = SlidingWindowLimit(2, 1.0, clock=lambda: now[0])
    assert window.try_acquire() and window.try_acquire() and not window.try_acquire()
    now[0] = 0.99
    assert not window.try_acquire()
    now[0] = 1.0
    assert window.try_acquire()
    slow = rps_limit(0.5, clock=lambda: now[0])
    assert slow.try_acquire() and not slow.try_acquire()
    now[0] = 3.0
    assert slow.try_acquire()


def test_group_limits_parse_and_documented_limits():
    assert parse_group_limits("document-parse=3, ocr=1.5") == {"document-parse": 3.0, "ocr": 1.5}
    settings = EmulatorSettings(rps_limits={"document-parse": 10}).with_documented_limits()
    assert settings.rps_limits["document-parse"] == 10  # explicit wins
    assert settings.rps_limits["document-parse-async"] == 6
    assert settings.ppm_limits["document-parse"] == 300


def test_arrival_stamps_out_of_order_are_checked_against_every_window():
    now = [0.9]
    window = SlidingWindowLimit(2, 1.0, clock=lambda: now[0])
    assert window.try_acquire(at=0.0) and window.try_acquire(at=0.9)
    now[0] = 1.2
    # Arrived at 0.8 but admitted late: the window [0.0, 1.0) would then hold three requests.
    assert not window.try_acquire(at=0.8)
    assert window.try_acquire(at=1.2)  # (0.2, 1.2] holds only the one at 0.9


def test_a_late_stamp_also_counts_against_the_window_that_starts_at_it():
    now = [0.5]
    window = SlidingWindowLimit(2, 1.0, clock=lambda: now[0])
    assert window.try_acquire(at=0.3) and window.try_acquire(at=0.5)
    now[0] = 0.6
    assert not window.try_acquire(at=0.2)  # [0.2, 1.2) would hold 0.2, 0.3 and 0.5
