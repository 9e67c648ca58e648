"""Keeps bench/scale.py's run-worker measure (``--only-worker``) working: a real run, measured.

A tiny N on a real PostgreSQL server (the bench starts its own): the bench registers a few new
documents through the inbox sensor, launches their run through a real webserver's ``launchRun``
(the code server starts the worker) and samples the worker's process tree. Asserts that the run
succeeded over those documents and that the figures were recorded, for the local engine and then the Upstage API's
path against the emulator (a real HTTP server on loopback), never a size or a speed.
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _worker_call(tmp_path: Path, state: Path, *extra: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "bench/scale.py", "--documents", "20", "--state", str(state), "--only-worker",
         "--worker-documents", "5", *extra], cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "UPSTAGE_BENCH_RESULTS": str(tmp_path / "results")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_the_run_worker_of_a_real_batch_is_measured(tmp_path):
    # not under tmp_path: pytest's base is private to root, and as root the server runs as ``postgres``
    outer = Path(tempfile.mkdtemp(prefix="upstage-scale-worker-"))
    outer.chmod(0o755)
    try:
        state = outer / "state"
        result = _worker_call(tmp_path, state)
        assert re.search(r"worker \(local backend\): run \S+ SUCCESS over 5 documents", result.stdout)
        assert re.search(r"^documents=20 .* worker_mib=\d+\.\d\d worker_api_mib=-$", result.stdout, re.M)

        row = json.loads((state / "row.json").read_text())
        assert row["worker_documents"] == 5
        # the worker and the local engine's step process were both seen; the sum peaks above each part
        assert 0 < row["worker_alone_mib"] <= row["worker_mib"]
        assert 0 < row["worker_steps_mib"] <= row["worker_mib"]
        assert 0 < row["worker_pss_mib"]
        written = list(csv.DictReader((tmp_path / "results" / "scale.csv").open()))
        assert [r["documents"] for r in written] == ["20"] and float(written[0]["worker_mib"]) == pytest.approx(
            row["worker_mib"], abs=0.01)

        # the Upstage API's path (the emulator): its own figures, the local engine's kept beside them
        api = _worker_call(tmp_path, state, "--worker-backend", "emulator")
        assert re.search(r"worker \(emulator backend\): run \S+ SUCCESS over 5 documents", api.stdout)
        assert re.search(r"worker_mib=\d+\.\d\d worker_api_mib=\d+\.\d\d$", api.stdout, re.M)
        again = json.loads((state / "row.json").read_text())
        assert again["worker_api_documents"] == 5 and again["worker_api_mib"] > 0
        assert again["worker_mib"] == row["worker_mib"]
    finally:
        shutil.rmtree(outer, ignore_errors=True)
