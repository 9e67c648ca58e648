"""``make reliability`` at a small size: the chaos run, a spot interruption, a PostgreSQL restart,
a full disk, S3 faults, async jobs, bad input, secrets.

Runs ``python -m upstage_assets_tests.reliability.report`` as a process, the way ``make reliability``
does, and checks the final line's zeros plus the details it summarises.
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
SCENARIO_DOCUMENTS = 8


@pytest.mark.slow
@pytest.mark.serial  # SIGKILLs and SIGTERMs runs at points in their progress; under the parallel pass's load
# its chaos scenario showed one paid-twice document nobody explained in 2 of 4 runs (open: see the closing note)
@pytest.mark.timeout(1500)
def test_reliability_suite_loses_nothing_duplicates_nothing_records_every_bad_input_and_leaks_nothing(tmp_path):
    report_path = tmp_path / "reliability.json"
    done = subprocess.run([sys.executable, "-m", "upstage_assets_tests.reliability.report", "--docs", str(DOCUMENTS),
                           "--no-corpus", "--s3-objects", "40", "--scenario-docs", str(SCENARIO_DOCUMENTS),
                           "--json", str(report_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1450)
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    match = re.fullmatch(r"faults_injected=(\d+) docs=(\d+) lost=(\d+) duplicated=(\d+) paid_twice=(\d+) "
                         r"bad_inputs=(\d+) recorded=(\d+) leaks=(\d+) interruptions=(\d+) db_restarts=(\d+) "
                         r"disk_full=(\d+)", lines[-1])
    assert match, lines[-5:]
    (faults, docs, lost, duplicated, paid_twice, bad_inputs, recorded, leaks, interruptions, db_restarts,
     disk_full) = map(int, match.groups())
    report = json.loads(report_path.read_text())
    assert (lost, duplicated, paid_twice, leaks) == (0, 0, 0, 0), (report["chaos"], report["leaks"], report["s3"],
                                                                  report["spot"], report["db"], report["disk"])
    assert interruptions >= 1 and db_restarts >= 1 and disk_full >= 1, lines[-5:]
    assert docs == DOCUMENTS and faults >= DOCUMENTS // 4
    assert bad_inputs == recorded >= 7, report["bad_input"]
    assert done.returncode == 0, done.stdout[-3000:]

    chaos = report["chaos"]
    assert 0 < chaos["killed_after"] < DOCUMENTS and chaos["killed_run_failed"]
    assert chaos["faults_by_kind"].get("rate_limit_429", 0) > 0
    # An answer is paid twice only when it was in flight at the SIGKILL (the worker ran 4 documents at a
    # time) or when the client gave up on it and said so (possibly_billed_twice in the usage record).
    assert chaos["paid_twice_unexplained"] == [], (chaos["paid_twice"], chaos["in_flight_at_kill"],
                                                  chaos["recorded_billed_twice"])
    assert len(chaos["in_flight_at_kill"]) <= 4, chaos["in_flight_at_kill"]
    assert chaos["partial_files"] == [] and chaos["unreadable"] == [] and chaos["in_progress"] == []
    assert chaos["unfinished_runs"] == [] and chaos["still_failing"] == []
    assert report["s3"]["faults"] > 0 and report["s3"]["wrong_reads"] == 0 and report["s3"]["half_written"] == 0
    assert all(case["ok"] and case["seconds"] < 15 for case in report["async"].values()), report["async"]
    assert report["bad_input"]["problems"] == [] and report["bad_input"]["registration_rss_growth_mib"] < 200

    spot = report["spot"]  # SIGTERM to a real run worker; the daemon retries the run by itself
    assert spot["interrupted_status"] == "FAILURE" and spot["failure_reason"] == "UNEXPECTED_TERMINATION"
    assert spot["said_so"] and spot["retried_by_daemon"] and spot["final_status"] == "SUCCESS", spot
    assert 0 < spot["extracted_at_signal"] < SCENARIO_DOCUMENTS
    assert spot["lost"] == spot["duplicated"] == spot["processed_twice"] == spot["paid_twice"] == [], spot
    db = report["db"]  # PostgreSQL stopped and started under the run
    assert db["restarts"] == 1 and db["daemon_recovered"] and db["recovery_ok"], db
    assert db["lost"] == db["duplicated"] == db["processed_twice"] == db["paid_twice"] == [], db
    assert db["spend_usd"] == pytest.approx(db["billed_usd"]) and db["billed_usd"] > 0, db
    disk = report["disk"]  # the output disk fills mid-ingest, then space is back
    assert disk["refused_writes"] > 0 and disk["disk_full"] > 0 and 0 < disk["done_while_full"] < SCENARIO_DOCUMENTS
    assert disk["partial_files"] == disk["unreadable"] == disk["other_errors"] == [], disk
    assert disk["storage_full_logged"] == disk["disk_full"], "each stopped document's error says storage_full"
    assert disk["storage_full_recorded"] == disk["disk_full"], "status shows each one failed with storage_full"
    assert disk["recovered"] and disk["lost"] == disk["duplicated"] == [], disk
