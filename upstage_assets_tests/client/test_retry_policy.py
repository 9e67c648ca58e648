"""Retries against a real HTTP server: what is retried, how long it waits, what it raises."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time

import httpx
import pytest

from upstage_assets.upstage_api.errors import (
    UpstageBadRequest,
    UpstageCorruptDocument,
    UpstageInsufficientCredit,
    UpstagePayloadTooLarge,
    UpstageRateLimited,
    UpstageServerError,
    UpstageUnauthorized,
    UpstageUnsupportedType,
)
from upstage_assets.upstage_api.http import RetryPolicy, parse_retry_after

from .conftest import SENTINEL_KEY, make_http
from .scripted_server import Answer

PATH = "/v1/information-extraction"


def post(http, path=PATH):
    return asyncio.run(http.request("POST", path, endpoint="information-extraction", json={"a": 1}))


def test_429_and_5xx_are_retried_until_success(server):
    server.queue(PATH, Answer(429), Answer(503), Answer(500), Answer(200, {"done": 1}))
    http = make_http(server.url, retry=RetryPolicy(max_attempts=5, base_delay_s=0.01, max_delay_s=0.02))
    assert post(http).json() == {"done": 1}
    assert len(server.arrivals_for(PATH)) == 4
    assert http.stats.retries == 3
    assert all(a.headers["authorization"] == f"Bearer {SENTINEL_KEY}" for a in server.arrivals)


def test_retry_after_seconds_is_honoured(server):
    server.queue(PATH, Answer(429, headers={"Retry-After": "0.4"}), Answer(200))
    post(make_http(server.url))
    first, second = server.arrivals_for(PATH)
    assert second.at - first.at >= 0.38


@pytest.mark.parametrize(("status", "error"), [
    (400, UpstageBadRequest), (401, UpstageUnauthorized), (403, UpstageInsufficientCredit),
    (413, UpstagePayloadTooLarge), (415, UpstageUnsupportedType), (422, UpstageCorruptDocument)])
def test_client_errors_raise_at_once(server, status, error):
    server.queue(PATH, Answer(status, {"error": {"message": f"refused {status}", "type": "x", "code": None}}))
    with pytest.raises(error) as caught:
        post(make_http(server.url))
    assert len(server.arrivals_for(PATH)) == 1
    assert caught.value.status == status
    assert f"refused {status}" in caught.value.message
    assert caught.value.as_record()["error_code"] == error.code


def test_exhausted_429_is_retryable_rate_limited(server):
    server.defaults[PATH] = Answer(429)
    with pytest.raises(UpstageRateLimited) as caught:
        post(make_http(server.url, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01)))
    assert caught.value.retryable and len(server.arrivals_for(PATH)) == 3


def test_exhausted_5xx_is_retryable_server_error(server):
    server.defaults[PATH] = Answer(502)
    with pytest.raises(UpstageServerError) as caught:
        post(make_http(server.url, retry=RetryPolicy(max_attempts=2, base_delay_s=0.01)))
    assert caught.value.retryable and len(server.arrivals_for(PATH)) == 2


def test_read_timeout_is_retried(server):
    server.queue(PATH, Answer(200, {"slow": 1}, delay_s=1.0), Answer(200, {"fast": 1}))
    http = make_http(server.url, timeout=httpx.Timeout(0.3))
    assert post(http).json() == {"fast": 1}
    assert len(server.arrivals_for(PATH)) == 2


def test_connection_refused_is_retried_then_ends_as_unreachable_not_a_server_error():
    """Issue 22 defect 4: nothing answered, so it is not a server error (see operator/test_unreachable_api.py)."""
    from upstage_assets.upstage_api.errors import UpstageUnreachable
    from upstage_assets_tests.fixtures.ports import free_port

    port = free_port()  # a port nobody listens on
    http = make_http(f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=3, base_delay_s=0.01))
    with pytest.raises(UpstageUnreachable, match="ConnectError") as caught:
        post(http)
    assert not isinstance(caught.value, UpstageServerError)
    assert http.stats.attempts == 3


@pytest.mark.serial  # a bound in wall-clock seconds
def test_total_time_is_bounded(server):
    server.defaults[PATH] = Answer(503, headers={"Retry-After": "5"})
    http = make_http(server.url, retry=RetryPolicy(max_attempts=10, max_total_s=1.0))
    started = time.monotonic()
    with pytest.raises(UpstageServerError):
        post(http)
    # gave up instead of sleeping the 5 s Retry-After past its 1 s budget
    assert time.monotonic() - started < 5.0
    assert len(server.arrivals_for(PATH)) == 1


def test_full_jitter_stays_under_the_exponential_ceiling():
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert max(delays) <= ceiling and min(delays) >= 0
        assert max(delays) > ceiling * 0.8  # full jitter spreads over the whole range
    assert policy.delay(3, 7.5, rng) == 7.5
    assert RetryPolicy(max_retry_after_s=60).delay(1, 3600, rng) == 60


def test_retry_after_http_date():
    now = time.time()
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now) == pytest.approx(30, abs=1)
    assert parse_retry_after("12") == 12
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# A 200 whose body is cut or garbled is as transient as a 502 (issue 20): retried, bounded.

def test_a_200_with_a_body_that_is_not_json_is_retried_until_a_good_answer(server):
    from upstage_assets.schemas.extraction import load_schema
    from upstage_assets.upstage_api.extraction import InformationExtractionApi
    from upstage_assets.upstage_api.parser import SourceDocument

    good = {"choices": [{"message": {"content": '{"invoice_number": "A-1"}'}}], "usage": {"pages": 1}}
    server.queue(PATH, Answer(200, b'{"choices": [{"mess'), Answer(200, {"choices": []}),
                 Answer(200, {"choices": [{"message": {"content": '{"invoice_nu'}}]}), Answer(200, good))
    http = make_http(server.url, retry=RetryPolicy(max_attempts=5, base_delay_s=0.01, max_delay_s=0.02))
    document = SourceDocument("doc-1", "a.pdf", b"%PDF-1.4 stub", "application/pdf", 1)
    result = asyncio.run(InformationExtractionApi(http).extract(document, load_schema("invoice")))
    assert result.fields["invoice_number"]["value"] == "A-1"
    assert len(server.arrivals_for(PATH)) == 4 and http.stats.retries == 3


def test_a_body_that_stays_malformed_fails_the_document_with_a_retryable_protocol_error(server):
    from upstage_assets.upstage_api.document_parse import SYNC_PATH, DocumentParseApi
    from upstage_assets.upstage_api.errors import UpstageProtocolError
    from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument

    server.defaults[SYNC_PATH] = Answer(200, {"api": "2.0", "content": {}})  # no elements list
    http = make_http(server.url, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02))
    document = SourceDocument("doc-1", "a.pdf", b"%PDF-1.4 stub", "application/pdf", 1)
    with pytest.raises(UpstageProtocolError) as caught:
        asyncio.run(DocumentParseApi(http).parse(document, ParseOptions()))
    assert caught.value.retryable and caught.value.code == "upstage_protocol_error"
    assert "after 3 attempts" in caught.value.message and SENTINEL_KEY not in caught.value.message
    assert len(server.arrivals_for(SYNC_PATH)) == 3


def test_a_malformed_answer_sent_again_counts_its_pages_as_possibly_billed_twice(server):
    """The API computed (and may have billed) the garbled answer; the re-send is recorded like a lost answer."""
    from upstage_assets.upstage_api.document_parse import SYNC_PATH, DocumentParseApi
    from upstage_assets.upstage_api.http import CURRENT_DOCUMENT
    from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument

    good = {"api": "2.0", "content": {}, "elements": [], "usage": {"pages": 2}}
    server.queue(SYNC_PATH, Answer(200, b'{"api": "2.0", "elem'), Answer(200, good))
    http = make_http(server.url, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02))
    document = SourceDocument("doc-7", "a.pdf", b"%PDF-1.4 stub", "application/pdf", 2)

    async def parse() -> None:
        CURRENT_DOCUMENT.set("doc-7")
        await DocumentParseApi(http).parse(document, ParseOptions())

    asyncio.run(parse())
    assert len(server.arrivals_for(SYNC_PATH)) == 2
    assert http.stats.answer_lost_pages == {("doc-7", "document-parse"): 2}


def test_a_truncated_body_is_retried(start_emulator):
    """The emulator's truncated fault: Content-Length promises more than is sent, then the connection drops."""
    from upstage_assets.upstage_api.document_parse import DocumentParseApi
    from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument
    from upstage_assets_tests.reliability.bad_inputs import pdf_bytes

    emulator = start_emulator(api_key=SENTINEL_KEY, fault_rate_truncated=0.5, seed=3)
    http = make_http(emulator.url, retry=RetryPolicy(max_attempts=12, base_delay_s=0.01, max_delay_s=0.02))
    api = DocumentParseApi(http)
    for i in range(4):
        document = SourceDocument(f"doc-{i}", "a.pdf", pdf_bytes(1), "application/pdf", 1)
        assert asyncio.run(api.parse(document, ParseOptions()))["elements"] is not None
    assert http.stats.retries > 0


def test_time_queued_behind_our_own_rate_limit_is_not_retry_time(server, store):
    """Twelve calls at once through a 4 req/s limit: the last ones wait seconds for their slot before
    their first send. That wait is not the retry budget (0.5 s here), so the last call's 429 is still
    retried; it used to raise after one attempt (a 10,000-document bench: "1 attempts in 301.8 s")."""
    server.queue(PATH, *[Answer(200, {"n": i}) for i in range(11)], Answer(429))
    server.defaults[PATH] = Answer(200, {"n": "retried"})
    http = make_http(server.url, store, rps=4,
                     retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02, max_total_s=0.5))

    async def all_at_once():
        return await asyncio.gather(*(http.request("POST", PATH, endpoint="information-extraction", json={"i": i})
                                      for i in range(12)))

    answers = [response.json()["n"] for response in asyncio.run(all_at_once())]
    assert sorted(answers, key=str) == sorted([*range(11), "retried"], key=str)
    assert http.stats.retries == 1 and len(server.arrivals_for(PATH)) == 13
