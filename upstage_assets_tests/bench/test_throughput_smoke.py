"""Keeps bench/throughput.py from rotting: a tiny run of every mode must complete.

Asserts that the harness works end to end (emulator process, daemon-driven backfill,
sequential and run-per-document modes) and prints its ratio line, never a speed.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_throughput_benchmark_completes_and_prints_its_ratios(tmp_path):
    result = subprocess.run(
        [sys.executable, "bench/throughput.py", "--quick", "--documents", "6", "--sequential-sample", "2",
         "--per-doc-sample", "1", "--timeout-s", "400"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "UPSTAGE_BENCH_RESULTS": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"platform/ideal=[\d.]+ sequential/platform=[\d.]+ per-doc/platform=[\d.]+", last), last
    assert "| platform | 6 |" in result.stdout
    assert (tmp_path / "throughput.md").exists() and (tmp_path / "throughput.png").exists()
