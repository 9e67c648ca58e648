"""How often a batch says how far it is (``defs/pipeline/progress.py``): by time, not by document count,
so a fast batch does not spend its run worker's CPU on tag writes and a slow one still reports."""

from __future__ import annotations

from upstage_assets.defs.pipeline.progress import ProgressCadence


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_fast_batch_reports_every_interval_and_at_its_end():
    clock = Clock()
    cadence = ProgressCadence(total=250, every_s=2.0, clock=clock)
    reported = []
    for done in range(1, 251):
        clock.now += 1 / 32  # 32 documents a second (exact in binary): ten of them would be 0.31 s
        if cadence.due(done):
            reported.append(done)
    # 7.8 s: once at each 2 s (64, 128, 192 documents), and the last document; every ten would be 25 times
    assert reported == [64, 128, 192, 250]
    assert cadence.elapsed_s() == 250 / 32


def test_a_slow_batch_reports_each_document_that_ends_an_interval():
    clock = Clock()
    cadence = ProgressCadence(total=5, every_s=2.0, clock=clock)
    reported = []
    for done in range(1, 6):
        clock.now += 3.0  # the tier-0 rate, the local engine on a CPU
        if cadence.due(done):
            reported.append(done)
    assert reported == [1, 2, 3, 4, 5]
