"""Run workers that start at once on a new state file all open it: none may fail on SQLite's WAL switch.

Real processes on one real SQLite file. ``PRAGMA journal_mode=WAL`` answers "database is locked" at once
(no busy timeout) to a connection that comes while another converts the file; CI hit it in the serial
pass (``test_four_processes_share_one_rate``).
"""

from __future__ import annotations

import time

import pytest

from upstage_assets_tests.client.limiter_worker import open_store_at
from upstage_assets_tests.fixtures.pools import process_pool

PROCESSES, ROUNDS = 8, 12


@pytest.mark.slow
def test_processes_opening_a_new_state_file_at_once_all_succeed(tmp_path):
    with process_pool(PROCESSES) as pool:  # closed and joined: see fixtures/pools.py
        for round_ in range(ROUNDS):
            start_at = time.time() + 0.5
            jobs = [pool.apply_async(open_store_at, (str(tmp_path / f"state-{round_}"), start_at))
                    for _ in range(PROCESSES)]
            assert [job.get(timeout=60) for job in jobs] == ["opened"] * PROCESSES, f"round {round_}"
