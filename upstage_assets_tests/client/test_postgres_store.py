"""The multi-host store on a real PostgreSQL: same guarantees as the SQLite file."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from upstage_assets.upstage_api.shared_state import BucketCharge, PostgresStateStore, open_state_store
from upstage_assets_tests.fixtures.pools import process_pool
from upstage_assets_tests.fixtures.postgres import running_postgres

from .budget_worker import reserve_many
from .limiter_worker import send_through_shared_limiter
from .scripted_server import peak_rate

# serial: rates across processes and token waits to 0.1 s, which other tests' load would skew.
pytestmark = [pytest.mark.slow, pytest.mark.serial]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with running_postgres() as server:
        yield server.plain_url()


def test_url_picks_postgres_with_psycopg2(postgres_url):
    store = open_state_store(postgres_url)
    assert isinstance(store, PostgresStateStore)
    assert store.engine.dialect.driver == "psycopg2"
    wait, _ = store.take_tokens([BucketCharge("t:a", 1.0, 1.0, 1.0)])
    assert wait == 0
    wait, _ = store.take_tokens([BucketCharge("t:a", 1.0, 1.0, 1.0)])
    assert wait == pytest.approx(1.0, abs=0.1)
    wait, token = store.admit_send("t:s", 1, 0.5, 0.2)
    assert wait == 0 and token
    assert store.admit_send("t:s", 1, 0.5, 0.2)[0] == pytest.approx(0.7, abs=0.1)  # send + skew + window
    store.complete_send("t:s", token)  # answered now: the window closes 0.5 s from now
    assert store.admit_send("t:s", 1, 0.5, 0.2)[0] == pytest.approx(0.5, abs=0.1)
    wait, token = store.admit_send("t:w", 1, 0.5, 0.2)
    time.sleep(0.3)
    store.mark_sent("t:w", token, 0.2)  # its bytes went out 0.3 s after its admission
    assert store.admit_send("t:w", 1, 0.5, 0.2)[0] == pytest.approx(0.7, abs=0.1)  # from the write, not 0.4


def test_budget_is_atomic_across_processes(postgres_url):
    with process_pool(4) as pool:
        accepted = pool.starmap(reserve_many, [(postgres_url, 10)] * 4)
    assert sum(accepted) == 20
    assert open_state_store(postgres_url).spend("default:run:shared-run") == pytest.approx(10.0)


def test_rate_is_shared_across_processes(postgres_url, server):
    start_at = time.time() + 2.0
    with process_pool(3) as pool:
        jobs = [pool.apply_async(send_through_shared_limiter, (server.url, postgres_url, 10, 10.0, start_at))
                for _ in range(3)]
        results = [job.get(timeout=60) for job in jobs]
    assert [ok for ok, _ in results] == [10, 10, 10]
    released = sorted(t for _, times in results for t in times)
    aggregate = (len(released) - 1) / (released[-1] - released[0])
    assert aggregate == pytest.approx(10.0, rel=0.10)
    assert peak_rate(released) <= 10
