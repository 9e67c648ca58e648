"""A table commit that loses races to concurrent runs retries for a span of time, not a count of attempts.

At N=10,000 with four run workers on a saturated host, every MERGE took long enough for another run to
commit during it: twelve attempts (about 10 s of backoff) failed 12 documents. The clock and the sleep
are the writer's own, given here, so the span is checked without waiting for it.
"""

from __future__ import annotations

import pytest
from deltalake.exceptions import CommitFailedError

from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.table_writer import CommitReport, DeltaTableWriter, TableCommitFailed


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def writer(tmp_path, clock: FakeTime, patience_s: float = 300.0) -> DeltaTableWriter:
    return DeltaTableWriter(LocalObjectStore(str(tmp_path)), OutputLayout(), sleep=clock.sleep,
                            clock=lambda: clock.now, patience_s=patience_s)


def losing(times: int):
    left = [times]

    def attempt() -> int:
        if left[0]:
            left[0] -= 1
            raise CommitFailedError("a concurrent transaction added new data")
        return 7
    return attempt


def test_a_commit_that_loses_thirty_races_still_lands(tmp_path):
    clock, report = FakeTime(), CommitReport()
    assert writer(tmp_path, clock)._retrying("merge", losing(30), report) == 7
    assert report.conflicts_retried == 30
    assert max(clock.slept) <= 4.0, "the backoff is capped, so the retries keep looking"
    assert clock.now < 300.0


def test_a_commit_that_keeps_losing_fails_once_its_patience_is_spent(tmp_path):
    clock, report = FakeTime(), CommitReport()
    with pytest.raises(TableCommitFailed, match=r"still conflicting after \d+ attempts \(60 s\)"):
        writer(tmp_path, clock, patience_s=60.0)._retrying("merge", losing(10**6), report)
    assert 50.0 <= clock.now <= 60.0  # it waited out (nearly) all its patience, never past it
    assert report.conflicts_retried == len(clock.slept) > 12
