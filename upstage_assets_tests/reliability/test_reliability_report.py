"""``make reliability`` at a small size: the chaos run, S3 faults, async jobs, bad input, secrets.

Runs ``python -m upstage_assets_tests.reliability.report`` as a process, the way ``make reliability`` does, and checks the
final line's zeros plus the details it summarises.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = 40


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_reliability_suite_loses_nothing_duplicates_nothing_records_every_bad_input_and_leaks_nothing(tmp_path):
    report_path = tmp_path / "reliability.json"
    done = subprocess.run([sys.executable, "-m", "upstage_assets_tests.reliability.report", "--docs", str(DOCUMENTS), "--no-corpus",
                           "--s3-objects", "40", "--json", str(report_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=880)
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    match = re.fullmatch(r"faults_injected=(\d+) docs=(\d+) lost=(\d+) duplicated=(\d+) bad_inputs=(\d+) "
                         r"recorded=(\d+) leaks=(\d+)", lines[-1])
    assert match, lines[-5:]
    faults, docs, lost, duplicated, bad_inputs, recorded, leaks = map(int, match.groups())
    report = json.loads(report_path.read_text())
    assert (lost, duplicated, leaks) == (0, 0, 0), (report["chaos"], report["leaks"], report["s3"])
    assert docs == DOCUMENTS and faults >= DOCUMENTS // 4
    assert bad_inputs == recorded >= 7, report["bad_input"]
    assert done.returncode == 0, done.stdout[-3000:]

    chaos = report["chaos"]
    assert 0 < chaos["killed_after"] < DOCUMENTS and chaos["killed_run_failed"]
    assert chaos["faults_by_kind"].get("rate_limit_429", 0) > 0
    assert chaos["partial_files"] == [] and chaos["unreadable"] == [] and chaos["in_progress"] == []
    assert chaos["unfinished_runs"] == [] and chaos["still_failing"] == []
    assert report["s3"]["faults"] > 0 and report["s3"]["wrong_reads"] == 0 and report["s3"]["half_written"] == 0
    assert all(case["ok"] and case["seconds"] < 15 for case in report["async"].values()), report["async"]
    assert report["bad_input"]["problems"] == [] and report["bad_input"]["registration_rss_growth_mib"] < 200
