"""Issue 22, defect 8: what the operator reads: planned runs on stdout, one line per failure, clean stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from upstage_assets.cli import main


@pytest.fixture
def failed_twice(data_root, tmp_path, monkeypatch, capsys):
    """Two corrupt PDFs ingested with --wait on the local engine: two failed documents."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    docs = data_root / "incoming"
    docs.mkdir()
    for i in range(2):
        (docs / f"bad{i}.pdf").write_bytes(f"%PDF-1.4 broken {i}".encode())
    code = main(["ingest", str(docs), "--wait", "--no-progress", "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


@pytest.mark.slow
def test_ingest_no_progress_prints_one_line_per_failed_document_and_no_trace(failed_twice):
    code, outcome, err = failed_twice
    assert code == 1 and len(outcome["failed"]) == 2
    assert "Traceback" not in err and "Stack Trace" not in err and 'File "' not in err, err
    for failure in outcome["failed"]:
        lines = [line for line in err.splitlines() if failure["document_id"] in line]
        assert len(lines) == 1 and "[corrupt_document]" in lines[0], err


@pytest.mark.slow
def test_retry_failed_dry_run_prints_the_planned_runs_on_stdout(failed_twice, capsys):
    _, outcome, _ = failed_twice
    code = main(["retry-failed", "--dry-run", "--include-permanent"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith("run 1: partitions ") and "2 documents" in out, out
    for failure in outcome["failed"]:
        (line,) = [line for line in out.splitlines() if line.startswith(f"  {failure['document_id']}")]
        assert "raw_documents: [corrupt_document]" in line
    code = main(["retry-failed", "--dry-run", "--include-permanent", "--json"])
    plan = json.loads(capsys.readouterr().out)
    assert {d["document_id"] for r in plan["runs_planned"] for d in r["planned"]} == \
        {f["document_id"] for f in outcome["failed"]}


def test_the_emulator_stops_on_sigterm_without_cancelled_error_traces(tmp_path):
    from upstage_assets_tests.emulator.conftest import make_pdf

    process = subprocess.Popen([sys.executable, "-m", "upstage_assets.emulator", "--port", "0", "--latency-s", "30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        url = process.stdout.readline().split()[-1]
        answers: list[object] = []

        def send() -> None:  # held by the 30 s latency when the server is told to stop
            try:
                answers.append(httpx.post(f"{url}/v1/document-digitization", headers={"Authorization": "Bearer k"},
                                          files={"document": ("a.pdf", make_pdf(1), "application/pdf")},
                                          data={"model": "document-parse"}, timeout=60).status_code)
            except httpx.HTTPError as exc:
                answers.append(type(exc).__name__)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the request is being held
            if httpx.get(f"{url}/__emulator__/stats", timeout=5).json()["requests_total"]:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        sender.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode in (0, -signal.SIGTERM)
    assert "CancelledError" not in err and "Traceback" not in err, err
