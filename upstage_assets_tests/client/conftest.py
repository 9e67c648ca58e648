from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from upstage_assets.resources.rate_limiter import EndpointLimits, RateLimiter
from upstage_assets.resources.shared_state import SqliteStateStore
from upstage_assets.resources.upstage_http import RetryPolicy, UpstageHttp

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
