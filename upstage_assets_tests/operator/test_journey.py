"""Issue 22: the operator's journey end to end, on a moto S3 server and the emulator over real HTTP.

A new user's path: a missing key and a wrong URL are refused before anything is registered;
`upstage-assets init`; uploads in waves picked up by the `new_s3_documents` sensor and run the
way the daemon runs them (duplicates under two schema folders and under a non-schema folder,
a zero-byte and a mislabelled object); an API outage mid-run, waited out by the client's
circuit breaker; then `status`, `retry-failed` and `export`. The outage lasts 4 s instead of
the issue's 25 s: the breaker's timings are client settings (UPSTAGE_CLIENT_BREAKER_*), so a
short outage exercises the same path in a modest test time.
"""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest

from upstage_assets.cli import main
from upstage_assets.cli.launch import CLI_LOGS
from upstage_assets.definitions import build_definitions
from upstage_assets.defs.pipeline.progress import read_progress
from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.operations.runner import tick_sensor
from upstage_assets.settings import Settings
from upstage_assets_tests.emulator.conftest import make_pdf
from upstage_assets_tests.fixtures.moto import moto_server
from upstage_assets_tests.fixtures.ports import free_port

OUTAGE_S = 4.0
EMULATOR = EmulatorSettings(seed=11, latency_s=0.05, rps_limits={"document-parse": 3.0,
                                                                  "information-extraction": 3.0},
                            fault_rate_5xx=0.03)


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def pdf(name: str) -> bytes:
    return make_pdf(1, lines=("INVOICE", f"Invoice No: {name}", "Date: 2024-03-01", "Total: 42.50"))


@pytest.mark.slow
def test_the_operators_journey_with_s3_and_the_api(capsys, tmp_path, monkeypatch):
    port = free_port()
    with moto_server() as s3_url:
        handles = [run_emulator_in_thread(EMULATOR, port=port)]
        try:
            _journey(capsys, tmp_path, monkeypatch, s3_url, port, handles)
        finally:
            for handle in handles:
                handle.stop()


def _journey(capsys, tmp_path, monkeypatch, s3_url, port, handles):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
    s3.create_bucket(Bucket="journey")
    env = {"DAGSTER_HOME": str(tmp_path / "home"), "UPSTAGE_ASSETS_BACKEND": "emulator",
           "UPSTAGE_ASSETS_INBOX": "s3://journey/inbox", "UPSTAGE_ASSETS_OUTPUT": "s3://journey/outputs",
           "UPSTAGE_ASSETS_S3_ENDPOINT_URL": s3_url, "UPSTAGE_API_BASE_URL": f"http://127.0.0.1:{port}",
           # the account's 3 requests/s, and a breaker quick enough for a test
           "UPSTAGE_CLIENT_PARSE_REQUESTS_PER_SECOND": "3", "UPSTAGE_CLIENT_EXTRACT_REQUESTS_PER_SECOND": "3",
           "UPSTAGE_CLIENT_BACKOFF_BASE_S": "0.05", "UPSTAGE_CLIENT_BREAKER_THRESHOLD": "2",
           "UPSTAGE_CLIENT_BREAKER_BASE_PAUSE_S": "0.5", "UPSTAGE_CLIENT_BREAKER_MAX_PAUSE_S": "1",
           "UPSTAGE_CLIENT_BREAKER_MAX_OUTAGE_S": "120"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    put = lambda key, data: s3.put_object(Bucket="journey", Key=f"inbox/{key}", Body=data)  # noqa: E731
    put("invoice/first.pdf", pdf("J-1"))

    # A missing key, then a wrong URL: one line each, exit 2, nothing registered.
    monkeypatch.delenv("UPSTAGE_API_KEY", raising=False)
    code, _, err = cli(capsys, "ingest", "s3://journey/inbox", "--wait", "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "UPSTAGE_API_KEY" in err, err
    monkeypatch.setenv("UPSTAGE_API_KEY", "dev-key")
    wrong = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("UPSTAGE_API_BASE_URL", wrong)
    code, _, err = cli(capsys, "ingest", "s3://journey/inbox", "--wait", "--no-progress")
    assert code == 2 and f"cannot connect to {wrong}" in err and "UPSTAGE_API_BASE_URL" in err, err
    monkeypatch.setenv("UPSTAGE_API_BASE_URL", env["UPSTAGE_API_BASE_URL"])
    assert "Contents" not in s3.list_objects_v2(Bucket="journey", Prefix="outputs/")

    assert cli(capsys, "init")[0] == 0
    settings = Settings.from_env()
    defs = build_definitions(settings)
    from upstage_assets.operations.local_instance import local_instance

    instance = local_instance(env["DAGSTER_HOME"])
    storage = defs.resources["storage"]
    sensor = defs.resolve_sensor_def("new_s3_documents")
    job = defs.resolve_job_def("process_documents")
    cursor: list[str | None] = [None]

    def wave() -> list[tuple[str, bool]]:
        """What the daemon does: sensor ticks until the pass is done, each run request executed."""
        runs = []
        for _ in range(5):
            tick = tick_sensor(sensor, instance, storage, cursor[0])
            cursor[0] = tick.cursor
            for request in tick.run_requests or []:
                result = job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False,
                                                run_config=CLI_LOGS)
                runs.append((result.run_id, result.success))
            if not tick.run_requests:
                break
        return runs

    # Wave 1: duplicates under two schema folders and a non-schema folder, an empty and a mislabelled object.
    receipt = make_pdf(1, lines=("RECEIPT", "Store: Corner Shop", "Total: 3.20"))
    put("a_dup/r.pdf", receipt)
    put("receipt/r.pdf", receipt)
    both = pdf("J-2")
    put("invoice/both.pdf", both)
    put("receipt/both.pdf", both)
    put("invoice/empty.pdf", b"")
    put("invoice/fake.pdf", b"<html><body>not a pdf</body></html>")
    wave()
    registry = storage.registry()
    records = {r.source_uri.rsplit("/", 1)[1]: r for r in (registry.get(i) for i in registry.document_ids())}
    assert records["r.pdf"].all_schemas() == ["receipt"] and len(records["r.pdf"].all_sources()) == 2
    assert sorted(records["both.pdf"].all_schemas()) == ["invoice", "receipt"]

    # Wave 2 with an API outage from the start of its run: the breaker waits it out.
    for i in range(3, 6):
        put(f"invoice/wave2-{i}.pdf", pdf(f"J-{i}"))
    handles.pop().stop()
    paused_seen: list[str] = []

    def end_outage() -> None:
        """The API comes back OUTAGE_S after the run's breaker reported the pause (or after 60 s)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not paused_seen:
            for run in instance.get_runs(limit=3):
                state = read_progress(run.tags).get("api", "")
                if state.startswith("paused"):
                    paused_seen.append(state)
            time.sleep(0.2)
        time.sleep(OUTAGE_S)
        handles.append(run_emulator_in_thread(EMULATOR, port=port))

    restart = threading.Thread(target=end_outage, daemon=True)
    restart.start()
    runs = wave()
    restart.join()
    assert paused_seen and "ConnectError" in paused_seen[0], paused_seen
    assert runs and all(ok for _, ok in runs), runs
    assert read_progress(instance.get_run_by_id(runs[0][0]).tags).get("api") == "ok", "the breaker paused, then resumed"

    code, out, _ = cli(capsys, "status", "--json")
    status = json.loads(out)
    assert status["documents"] == 7 and status["done"]["validated_documents"] == 6
    (fake,) = [f for f in status["failures"] if f["stage"] == "raw_documents"]
    assert not fake["retryable"] and fake["error_code"] in ("unsupported_type", "corrupt_document")
    assert any(f["stage"] == "inbox" and f["error_code"] == "empty_document" for f in status["failures"])
    # 6 documents classified once each (the labels are the same whatever the folder) and 6 extractions:
    # both.pdf is an invoice, so under receipt/ it is quarantined as wrong_document_type unextracted
    assert status["pages_billed"] == {"parse": 6, "classification": 6, "extraction": 6}
    assert status["estimated_cost_usd"] > 0
    code, out, _ = cli(capsys, "retry-failed", "--dry-run")
    assert out.strip() == "nothing to retry", "permanent failures are left alone"
    code, out, err = cli(capsys, "export", "--format", "jsonl", "--out", str(tmp_path / "export"), "--json",
                         "--no-progress")
    exported = json.loads(out)
    assert code == 0 and exported["records"] + exported["quarantined_left_out"] == 7
