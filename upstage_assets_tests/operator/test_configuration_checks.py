"""Issue 22, defect 3: a missing required setting is one line naming it, exit 2, before anything happens."""

from __future__ import annotations

import pytest

from upstage_assets.cli import main


@pytest.fixture
def emulator_env(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("UPSTAGE_ASSETS_BACKEND", "emulator")
    monkeypatch.delenv("UPSTAGE_API_KEY", raising=False)
    (data_root / "inbox" / "a.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    return data_root


@pytest.mark.parametrize("backend", ["emulator", "upstage"])
def test_a_missing_key_is_one_line_and_exit_2_before_anything_is_registered(capsys, emulator_env, tmp_path,
                                                                              monkeypatch, backend):
    monkeypatch.setenv("UPSTAGE_ASSETS_BACKEND", backend)
    code = main(["ingest", str(emulator_env / "inbox"), "--wait", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "UPSTAGE_API_KEY" in err and f"UPSTAGE_ASSETS_BACKEND={backend}" in err, err
    assert "Traceback" not in err
    assert not (emulator_env / "outputs" / "registry").exists(), "nothing registered"
    assert not (tmp_path / "dagster_home").exists(), "no instance touched, no run launched"
    assert main(["retry-failed", "--wait"]) == 2
    assert "UPSTAGE_API_KEY" in capsys.readouterr().err


def test_an_empty_key_counts_as_missing_and_register_only_needs_none(capsys, emulator_env, monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", "  ")
    assert main(["ingest", str(emulator_env / "inbox"), "--wait"]) == 2
    assert "UPSTAGE_API_KEY" in capsys.readouterr().err
    assert main(["ingest", str(emulator_env / "inbox"), "--register-only", "--no-progress"]) == 0


def test_a_bad_number_names_its_variable(capsys, emulator_env, monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", "any")
    monkeypatch.setenv("UPSTAGE_ASSETS_DOCUMENTS_PER_RUN", "fifty")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "UPSTAGE_ASSETS_DOCUMENTS_PER_RUN='fifty'" in err, err


def test_s3_without_aws_credentials_is_named_before_listing(capsys, emulator_env, monkeypatch, tmp_path):
    monkeypatch.setenv("UPSTAGE_API_KEY", "any")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
    code = main(["ingest", "s3://bucket/inbox", "--wait"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "AWS_ACCESS_KEY_ID" in err and "moto" in err, err


@pytest.mark.parametrize("variable", ["UPSTAGE_ASSETS_BUDGET_PER_RUN_USD", "UPSTAGE_ASSETS_BUDGET_PER_DAY_USD",
                                      "UPSTAGE_ASSETS_SHUTDOWN_GRACE_S"])
def test_a_bad_fault_setting_names_its_variable(capsys, emulator_env, monkeypatch, variable):
    """Issue 20's settings (spend limits, SIGTERM grace) are checked like issue 22's: one line, exit 2."""
    monkeypatch.setenv("UPSTAGE_API_KEY", "any")
    monkeypatch.setenv(variable, "ten")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{variable}='ten'" in err, err
