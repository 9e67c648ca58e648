"""bench/harness.py's TreeRssSampler: the peak of a process tree, and of its largest single descendant.

The platform's peak is a sum over a code server's run workers, so it grows with how many overlap; the
largest single one is what says whether a run worker's memory stays flat as the corpus grows. Real
child processes hold known amounts of memory; only lower bounds and orderings are asserted.
"""

import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from harness import TreeRssSampler  # noqa: E402

HOLD = """
import sys, time
block = bytearray(int(sys.argv[1]) * 2**20)
for i in range(0, len(block), 4096):
    block[i] = 1  # touch every page: resident, not only reserved
print("held", flush=True)
time.sleep(60)
"""
PARENT = """
import subprocess, sys, time
children = [subprocess.Popen([sys.executable, "-c", sys.argv[1], size], stdout=subprocess.PIPE)
            for size in ("150", "50")]
for child in children:
    child.stdout.readline()
print("ready", flush=True)
time.sleep(60)
"""


def test_the_largest_descendant_is_reported_beside_the_sum():
    parent = subprocess.Popen([sys.executable, "-c", PARENT, HOLD], stdout=subprocess.PIPE)
    try:
        assert parent.stdout.readline().strip() == b"ready"
        with TreeRssSampler(parent.pid) as rss:
            time.sleep(1.0)
        mib = 2**20
        assert rss.peak_one_descendant >= 150 * mib
        assert rss.peak_descendants >= rss.peak_one_descendant + 50 * mib
    finally:
        for process in [*psutil.Process(parent.pid).children(recursive=True), parent]:
            process.kill()
        parent.wait()
