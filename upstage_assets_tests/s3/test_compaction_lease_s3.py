"""The compaction lease on S3 (moto server over real HTTP): a conditional create, expiry, take-over."""

from __future__ import annotations

import json
import os
import signal
import time

from upstage_assets.storage.compaction_lease import LEASES, compaction_lease
from upstage_assets_tests.storage.lease_holder import AREA, TABLE, hold_in_another_process
from upstage_assets_tests.storage.test_compaction_lease import assert_exclusive_across_processes

LEASE_KEY = f"{LEASES}/{AREA}/{TABLE}.json"


def test_the_lease_is_exclusive_across_processes_on_s3(bucket):
    store = bucket.storage().output_store()
    assert_exclusive_across_processes(store, store.root_uri, bucket.endpoint)
    assert not store.exists(LEASE_KEY), "released: the lease object is gone"


def test_a_killed_holder_frees_an_s3_lease_once_it_expires(bucket):
    store = bucket.storage().output_store()
    process, _ = hold_in_another_process(store.root_uri, bucket.endpoint, ttl_s=2)
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=60)
    left = json.loads(store.read_bytes(LEASE_KEY))
    assert f":{process.pid}:" in left["holder"], "a dead holder leaves its lease behind"
    time.sleep(max(0.0, left["expires_at"] - time.time()) + 0.1)
    with compaction_lease(store, AREA, TABLE):
        assert f":{os.getpid()}:" in json.loads(store.read_bytes(LEASE_KEY))["holder"], "taken over"
    assert not store.exists(LEASE_KEY)


def test_a_late_holder_releasing_leaves_the_lease_of_the_one_that_took_it_over(bucket):
    store = bucket.storage().output_store()
    late = compaction_lease(store, AREA, TABLE, ttl_s=0)
    late.__enter__()
    taker = compaction_lease(store, AREA, TABLE)
    taker.__enter__()  # the first one's lease had expired: taken over
    late.__exit__(None, None, None)
    assert store.exists(LEASE_KEY), "the late holder deleted only its own lease, not the taker's"
    taker.__exit__(None, None, None)
    assert not store.exists(LEASE_KEY)
