"""Keeps bench/throughput.py from rotting: a tiny run of every mode must complete.

Asserts that the harness works end to end (benchmark-mode emulator warmed first, daemon-driven
backfill, sequential, run-per-document and overhead-ceiling modes) and prints its line, never a speed.
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
    assert re.fullmatch(r"limit_docs_per_s=[\d.]+ ideal=[\d.]+ platform=[\d.]+ platform/ideal=[\d.]+ "
                        r"per-doc/platform=[\d.]+ overhead_ceiling_docs_per_s=[\d.]+", last), last
    assert "| platform | 6 |" in result.stdout and "| ceiling, SQLite | 6 |" in result.stdout
    assert "| 0 |" in result.stdout.split("| ideal |")[1].split("\n")[0]  # the ideal drew no 429
    cpu = result.stdout.split("CPU by role")[1]
    assert re.search(r"- platform: host busy [\d.]+ of \d+ cores[^;]*; CPU ms per document: .*run workers \d+", cpu), cpu
    assert (tmp_path / "throughput_rps20_n6.md").exists() and (tmp_path / "throughput_rps20_n6.png").exists()
