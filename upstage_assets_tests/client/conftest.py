from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from upstage_assets.upstage_api.http import RetryPolicy, UpstageHttp
from upstage_assets.upstage_api.rate_limiter import EndpointLimits, RateLimiter
from upstage_assets.upstage_api.shared_state import SqliteStateStore

from .scripted_server import ScriptedServer

SENTINEL_KEY = "up_SENTINEL0123456789abcdefKEY"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def store(tmp_path) -> Iterator[SqliteStateStore]:
    opened = SqliteStateStore(tmp_path / "state")
    yield opened
    opened.close()


def make_http(url: str, store: SqliteStateStore | None = None, *, rps: float = 1000.0,
              retry: RetryPolicy | None = None, **kwargs) -> UpstageHttp:
    limiter = None
    if store is not None:
        limits = {name: EndpointLimits(rps) for name in
                  ("document-parse", "document-parse-async", "ocr", "information-extraction", "poll")}
        limiter = RateLimiter(store, limits)
    return UpstageHttp(url, SENTINEL_KEY, retry=retry or RetryPolicy(max_attempts=4, base_delay_s=0.01,
                                                                      max_delay_s=0.05, max_total_s=10),
                       limiter=limiter, rng=random.Random(7), **kwargs)


FAST_EMULATOR = {"async_queue_s": 0.05, "async_batch_s": 0.05}
UNLIMITED = {"parse_requests_per_second": 1000.0, "async_requests_per_second": 1000.0,
             "extract_requests_per_second": 1000.0, "poll_requests_per_second": 1000.0,
             "parse_pages_per_minute": 1e9, "async_pages_per_minute": 1e9, "poll_initial_s": 0.05,
             "backoff_base_s": 0.01, "backoff_max_s": 0.1}


@pytest.fixture
def start_emulator():
    """Start emulators on loopback with the given settings (fast async timers); all stop afterwards."""
    from upstage_assets.emulator.server import run_emulator_in_thread
    from upstage_assets.emulator.settings import EmulatorSettings

    handles = []

    def start(**overrides):
        handle = run_emulator_in_thread(EmulatorSettings(**{**FAST_EMULATOR, **overrides}))
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture
def make_client(tmp_path):
    """An UpstageClient for a base URL with the sentinel key and a private state dir."""
    from upstage_assets.resources.upstage_client import UpstageClient

    def make(url: str, **overrides):
        return UpstageClient(**{"base_url": url, "api_key": SENTINEL_KEY,
                                "rate_limit_store": str(tmp_path / "limits"), **UNLIMITED, **overrides})

    return make
