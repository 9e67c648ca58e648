"""The `upstage-assets` command: help, exit codes, ingest, status, retry-failed, delegation."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from upstage_assets.cli import main
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME


@pytest.fixture
def cli_env(data_root, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _instance(home):
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(home))


@pytest.mark.parametrize("command", [[], ["ingest"], ["status"], ["retry-failed"], ["export"], ["aws"]])
def test_every_command_has_help(capsys, command):
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0 and "usage: upstage-assets" in out


def test_usage_errors_exit_2(capsys, cli_env, tmp_path):
    assert run_cli(capsys, "no-such-command")[0] == 2
    code, _, err = run_cli(capsys, "ingest", str(tmp_path / "missing"))
    assert code == 2 and "no such file or folder" in err
    code, _, err = run_cli(capsys, "ingest", str(tmp_path), "--schema", "no-such-schema")
    assert code == 2 and "no-such-schema" in err
    assert run_cli(capsys, "export", "--format", "xml", "--out", str(tmp_path))[0] == 2


@pytest.mark.slow
def test_failed_documents_exit_1_and_show_in_status_with_reasons(capsys, cli_env, data_root):
    docs = data_root / "incoming"
    docs.mkdir()
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (docs / "empty.pdf").write_bytes(b"")
    (docs / "readme.txt").write_text("not a document")
    code, out, err = run_cli(capsys, "ingest", str(docs), "--wait", "--json", "--no-progress")
    outcome = json.loads(out)
    assert code == 1, err
    assert outcome["registered"] == 1 and outcome["to_process"] == 1
    assert {s["reason"] for s in outcome["skipped"]} >= {"zero-byte object", "suffix not in the configured document types"}
    (failed,) = outcome["failed"]
    assert failed["stage"] == "raw_documents" and failed["error_code"] == "corrupt_document"
    run = _instance(cli_env).get_run_by_id(outcome["runs"][0]["run_id"])
    progress = {k.rpartition(".")[2]: v for k, v in run.tags.items() if k.startswith("upstage_assets/progress.")}
    assert progress["done"] == "0/1" and progress["failed"] == "1" and progress["eta_s"] == "0", run.tags

    code, out, _ = run_cli(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 1
    # the empty file is recorded too (refused at registration, before it has a document id)
    assert status["documents"] == 1 and status["failed"] == 2
    assert status["failures"][0]["document_id"] == failed["document_id"]
    assert status["failures"][1]["error_code"] == "empty_document" and status["failures"][1]["stage"] == "inbox"
    assert status["done"]["validated_documents"] == 0

    code, out, _ = run_cli(capsys, "status")
    assert code == 1 and "corrupt_document" in out and "upstage-assets retry-failed --include-permanent" in out

    code, out, _ = run_cli(capsys, "retry-failed", "--retryable-only", "--json")
    assert code == 0 and json.loads(out)["failed"] == 0, "a corrupt file is not retryable"
    code, out, _ = run_cli(capsys, "retry-failed", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["failed"] == 0 and plan["permanent_left_out"] == 1, "permanent ones only when asked"
    code, out, _ = run_cli(capsys, "retry-failed", "--include-permanent", "--wait", "--json", "--no-progress")
    retried = json.loads(out)
    assert code == 1 and retried["still_failed"] == [failed["document_id"]]
    assert len(retried["runs"]) == 1


def test_ingest_without_wait_submits_one_backfill_for_the_daemon(capsys, cli_env, data_root):
    docs = data_root / "incoming"
    (docs / "receipt").mkdir(parents=True)
    for i in range(3):
        (docs / "receipt" / f"r{i}.pdf").write_bytes(f"%PDF-1.4 document {i}".encode())
    code, out, err = run_cli(capsys, "ingest", str(docs), "--json", "--no-progress")
    outcome = json.loads(out)
    assert code == 0, err
    assert outcome["registered"] == 3 and outcome["backfill_id"]
    assert "no dagster-daemon heartbeat" in err
    instance = _instance(cli_env)
    backfill = instance.get_backfill(outcome["backfill_id"])
    assert backfill is not None and backfill.status.value == "REQUESTED"
    partitions = instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME)
    assert len(partitions) == 3
    targeted = backfill.asset_backfill_data.target_subset.get_partitions_subset(
        next(iter(backfill.asset_backfill_data.target_subset.asset_keys))).get_partition_keys()
    assert set(targeted) == set(partitions)
    # Registering the same bytes again changes nothing and submits nothing new.
    code, out, _ = run_cli(capsys, "ingest", str(docs), "--register-only", "--json", "--no-progress")
    again = json.loads(out)
    assert code == 0 and again["registered"] == 0 and again["already_registered"] == 3


@pytest.mark.slow
def test_retry_plans_contiguous_failures_into_shared_runs(capsys, cli_env, data_root):
    docs = data_root / "incoming"
    docs.mkdir()
    for i in range(5):
        (docs / f"bad{i}.pdf").write_bytes(f"%PDF-1.4 broken {i}".encode())
    assert run_cli(capsys, "ingest", str(docs), "--wait", "--no-progress", "--batch-size", "2")[0] == 1
    code, out, _ = run_cli(capsys, "retry-failed", "--dry-run", "--batch-size", "3", "--json", "--include-permanent")
    plan = json.loads(out)
    assert code == 0 and plan["failed"] == 5
    assert [r["documents"] for r in plan["runs_planned"]] == [3, 2]


def test_the_console_script_and_delegation_work_as_a_process():
    script = Path(sys.executable).parent / "upstage-assets"
    result = subprocess.run([str(script), "aws", "bootstrap", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "upstage-assets aws bootstrap" in result.stdout
    result = subprocess.run([sys.executable, "-m", "upstage_assets.cli", "emulator", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--port" in result.stdout


def test_a_missing_delegate_is_a_clear_usage_error():
    from upstage_assets.cli.common import CliError
    from upstage_assets.cli.delegate import _delegate

    with pytest.raises(CliError, match="not available in this installation"):
        _delegate("upstage_assets.aws.no_such_bootstrap", [])
