"""Keeps bench/scale.py's kept state (``--state``) from rotting: built once, then measured again.

A tiny N on a real PostgreSQL server (the bench starts its own): the first call builds the state
and keeps the cluster and the files; the second finds them, builds nothing, and its row still
carries the first call's build figure. Asserts the bookkeeping, never a speed.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _scale(tmp_path: Path, state: Path, *extra: str) -> str:
    result = subprocess.run(
        [sys.executable, "bench/scale.py", "--documents", "20", "--state", str(state), "--skip-sensor", "--skip-ui",
         *extra], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "UPSTAGE_BENCH_RESULTS": str(tmp_path / "results")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_a_kept_state_is_built_once_and_measured_again(tmp_path):
    # not under tmp_path: pytest's base is private to root, and as root the server runs as ``postgres``
    outer = Path(tempfile.mkdtemp(prefix="upstage-scale-kept-"))
    outer.chmod(0o755)
    try:
        _built_once_then_measured(tmp_path, outer / "state")
    finally:
        shutil.rmtree(outer, ignore_errors=True)


def _built_once_then_measured(tmp_path: Path, state: Path) -> None:
    first = _scale(tmp_path, state)
    assert "built 20 documents" in first
    built = json.loads((state / "row.json").read_text())
    assert built["documents"] == 20 and built["build_s"] > 0 and (state / "pg" / "pgdata").is_dir()

    second = _scale(tmp_path, state, "--repeat", "2")
    assert "reusing the 20-document state" in second and "built 20 documents" not in second
    assert second.count("cli and planning, try") == 2
    rows = list(csv.DictReader((tmp_path / "results" / "scale.csv").open()))
    assert [r["documents"] for r in rows] == ["20", "20"]
    assert rows[1]["build_s"] == rows[0]["build_s"]  # the first call's figure, carried
    assert rows[1]["status_s"]  # measured again over the kept state

    wrong = subprocess.run([sys.executable, "bench/scale.py", "--documents", "30", "--state", str(state),
                            "--skip-sensor", "--skip-ui"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "UPSTAGE_BENCH_RESULTS": str(tmp_path / "results")})
    assert wrong.returncode != 0 and "holds 20 documents, not 30" in wrong.stderr
