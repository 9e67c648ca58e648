"""The limiter holds across processes: four processes share one 10 req/s allowance."""

from __future__ import annotations

import asyncio
import time

import pytest

from upstage_assets.upstage_api.errors import UpstageRateLimited
from upstage_assets.upstage_api.rate_limiter import EndpointLimits, RateLimiter
from upstage_assets.upstage_api.shared_state import BucketCharge, SqliteStateStore, settle_buckets
from upstage_assets_tests.fixtures.pools import process_pool

from .conftest import make_http
from .limiter_worker import send_through_shared_limiter
from .scripted_server import Answer, peak_rate

PATH = "/v1/information-extraction"


def run_processes(url: str, state: str, processes: int, requests: int, rps: float
                  ) -> list[tuple[int, list[float]]]:
    start_at = time.time() + 2.0  # past every child's start-up
    with process_pool(processes) as pool:
        jobs = [pool.apply_async(send_through_shared_limiter, (url, state, requests, rps, start_at))
                for _ in range(processes)]
        return [job.get(timeout=60) for job in jobs]


@pytest.mark.serial  # asserts the aggregate rate: other tests' load slows the senders
@pytest.mark.slow
def test_four_processes_share_one_rate(server, tmp_path):
    results = run_processes(server.url, str(tmp_path / "shared"), processes=4, requests=12, rps=10.0)
    assert [ok for ok, _ in results] == [12, 12, 12, 12]
    released = sorted(t for _, times in results for t in times)
    assert peak_rate(released, window_s=1.0) <= 10  # what the limiter controls: never 11 in a second
    aggregate = (len(released) - 1) / (released[-1] - released[0])
    times = sorted(a.at for a in server.arrivals_for(PATH))
    peak = peak_rate(times)
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    print(f"aggregate {aggregate:.2f} req/s, peak {peak} in any 1 s window (limit 10); "
          f"gaps min {gaps[0] * 1000:.1f} ms, median {gaps[len(gaps) // 2] * 1000:.1f} ms")
    assert aggregate == pytest.approx(10.0, rel=0.10)
    assert peak <= 10  # sends hold their slot until answered, so even a stalled server sees no burst


@pytest.mark.serial  # needs the burst to arrive within one second
def test_separate_state_dirs_do_not_share(server, tmp_path):
    """Control for the test above: without a shared store the same load runs at 4x the rate."""
    async def two_limiters() -> None:
        https = [make_http(server.url, SqliteStateStore(tmp_path / f"own{i}"), rps=10.0) for i in range(2)]
        await asyncio.gather(*(h.request("POST", PATH, endpoint="information-extraction", json={})
                               for h in https for _ in range(6)))
    asyncio.run(two_limiters())
    times = sorted(a.at for a in server.arrivals_for(PATH))
    assert peak_rate(times) >= 11


def test_pages_per_minute_bucket_spaces_large_documents(store):
    limiter = RateLimiter(store, {"document-parse": EndpointLimits(1e6, pages_per_minute=600.0)}, max_wait_s=5.0)

    async def three_documents() -> list[float]:
        return [await limiter.acquire("document-parse", pages=300) for _ in range(3)]

    # 600 pages/min = 10 pages/s with a 600-page bucket: two go at once, the third is 30 s away.
    with pytest.raises(UpstageRateLimited, match="30 s away"):
        asyncio.run(three_documents())
    assert limiter.waited_s < 0.01


def test_bucket_arithmetic():
    charge = BucketCharge("b", rate=10.0, capacity=600.0, cost=300.0)
    wait, state = settle_buckets([charge], {}, now=100.0, max_wait=1e9)
    assert wait == 0 and state["b"] == (300.0, 100.0)
    wait, state = settle_buckets([charge], state, now=100.0, max_wait=1e9)
    assert wait == 0 and state["b"] == (0.0, 100.0)
    wait, state = settle_buckets([charge], state, now=100.0, max_wait=1e9)
    assert wait == pytest.approx(30.0) and state["b"] == (-300.0, 100.0)
    refused, nothing = settle_buckets([charge], state, now=100.0, max_wait=10.0)
    assert refused == pytest.approx(60.0) and nothing == {}
    # refill after 45 s: -300 + 450 = 150, capped at capacity later
    wait, state = settle_buckets([BucketCharge("b", 10.0, 600.0, 100.0)], state, now=145.0, max_wait=1e9)
    assert wait == 0 and state["b"][0] == pytest.approx(50.0)


def test_wait_beyond_max_raises_retryable_and_takes_nothing(store):
    limiter = RateLimiter(store, {"poll": EndpointLimits(0.5)}, max_wait_s=1.0)

    async def go() -> None:
        await limiter.acquire("poll")
        await limiter.acquire("poll")  # waits 2 s > max_wait_s

    with pytest.raises(UpstageRateLimited) as caught:
        asyncio.run(go())
    assert caught.value.retryable


def test_in_flight_cap(server, store):
    server.defaults[PATH] = Answer(200, delay_s=0.2)
    http = make_http(server.url, store)
    http.limiter.max_in_flight = 2

    async def burst() -> None:
        await asyncio.gather(*(http.request("POST", PATH, endpoint="information-extraction", json={})
                               for _ in range(6)))
    asyncio.run(burst())
    assert server.peak_in_flight == 2


def test_a_queue_on_one_endpoint_does_not_hold_back_another(server, store):
    """In-flight slots are per endpoint: parses queued on their rate limit (and holding every
    parse slot while they wait) must not delay an extraction requested after them."""
    parse_path = "/v1/document-digitization"
    server.defaults[parse_path] = Answer(200)
    server.defaults[PATH] = Answer(200)
    http = make_http(server.url, store)
    http.limiter.limits = {"document-parse": EndpointLimits(5.0), "information-extraction": EndpointLimits(5.0)}
    http.limiter.max_in_flight = 2

    async def parses_then_one_extraction() -> None:
        parses = [asyncio.create_task(http.request("POST", parse_path, endpoint="document-parse", json={}))
                  for _ in range(12)]
        await asyncio.sleep(0)  # every parse is queued first
        await http.request("POST", PATH, endpoint="information-extraction", json={})
        await asyncio.gather(*parses)
    asyncio.run(parses_then_one_extraction())
    parses = [a.at for a in server.arrivals_for(parse_path)]
    (extraction,) = [a.at for a in server.arrivals_for(PATH)]
    assert len(parses) == 12
    # 12 parses at 5/s take over two seconds; the extraction goes as soon as its own slot allows
    assert sum(at < extraction for at in parses) <= 6, "the extraction waited behind the parse queue"


def test_a_send_occupies_the_window_until_its_answer(store):
    wait, token = store.admit_send("s", 1, 1.0, 0.5)
    assert wait == 0 and token
    assert store.admit_send("s", 1, 1.0, 0.5)[0] == pytest.approx(1.5, abs=0.05)  # unanswered: send + skew
    store.complete_send("s", token)
    assert store.admit_send("s", 1, 1.0, 0.5)[0] == pytest.approx(1.0, abs=0.05)  # answered now


def test_a_send_is_dated_again_once_its_bytes_are_out(store):
    """A stall between admission and the write (the write yields to the event loop) must not date it early."""
    wait, token = store.admit_send("s", 1, 1.0, 0.05)
    assert wait == 0 and token
    time.sleep(0.3)
    store.mark_sent("s", token, 0.05)
    assert store.admit_send("s", 1, 1.0, 0.05)[0] == pytest.approx(1.05, abs=0.05)  # from the write, not 0.75


def test_requests_are_admitted_on_the_wire_not_at_their_bucket_slot(server, store, monkeypatch):
    """Requests held after their bucket slot (a busy connection pool, a stalled event loop) reach the
    server late; dated at the slot, they landed in one window with the requests sent after them."""
    http = make_http(server.url, store, rps=5.0)
    pools_send = http._pools.send
    held = 0

    async def pool_holds_the_first_two(request):
        nonlocal held
        held += 1
        if held <= 2:
            await asyncio.sleep(0.9)
        return await pools_send(request)
    monkeypatch.setattr(http._pools, "send", pool_holds_the_first_two)

    async def burst() -> None:
        await asyncio.gather(*(http.request("POST", PATH, endpoint="information-extraction", json={"i": i})
                               for i in range(12)))
    asyncio.run(burst())
    arrivals = sorted(a.at for a in server.arrivals_for(PATH))
    assert len(arrivals) == 12
    assert peak_rate(arrivals) <= 5  # dated at their slots: 7 in one second


def test_the_send_log_dates_a_request_by_its_write(server, store):
    """The transport's trace hooks admit each request and date it after its headers are written."""
    server.defaults[PATH] = Answer(200, delay_s=0.3)
    http = make_http(server.url, store, rps=5.0)
    asyncio.run(http.request("POST", PATH, endpoint="information-extraction", json={}))
    (arrival,) = server.arrivals_for(PATH)
    (until,) = [row[0] for row in store._conn.execute("SELECT until FROM send_slots")]
    skew = http.limiter.max_skew_s
    assert arrival.at - 0.05 < until - skew < arrival.at + 0.05  # written, then counted at once


def test_stalled_server_cannot_receive_a_burst(server, store):
    """Requests a stalled server reads late hold their slots, so later sends keep their distance."""
    server.queue(PATH, *[Answer(200, delay_s=0.6) for _ in range(3)])
    http = make_http(server.url, store, rps=3.0)
    http.limiter.max_skew_s = 2.0

    async def burst() -> None:
        await asyncio.gather(*(http.request("POST", PATH, endpoint="information-extraction", json={})
                               for _ in range(6)))
    asyncio.run(burst())
    sent = sorted(a.at for a in server.arrivals_for(PATH))
    assert sent[3] - sent[0] >= 1.5  # the 4th waited for the slow first answer (0.6 s) plus the 1 s window
