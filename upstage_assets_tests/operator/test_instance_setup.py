"""Issue 22, defect 6: the instance configuration is written once, visibly; an unconfigured home is named."""

from __future__ import annotations

import os
import subprocess
import sys

from upstage_assets.cli import main


def test_init_writes_the_configuration_once_and_says_so(capsys, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["init"]) == 0
    err = capsys.readouterr().err
    assert f"wrote {home}/dagster.yaml" in err and "run_monitoring" in (home / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text((home / "dagster.yaml").read_text() + "# edited by the operator\n")
    assert main(["init"]) == 0
    assert "already exists: left as it is" in capsys.readouterr().err
    assert (home / "dagster.yaml").read_text().endswith("# edited by the operator\n")


def test_a_live_unconfigured_home_is_never_written_behind_its_back(capsys, data_root, tmp_path, monkeypatch):
    home = tmp_path / "live"
    (home / "storage").mkdir(parents=True)  # what `dagster dev` leaves on a home it runs on
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no dagster.yaml" in err and "upstage-assets init" in err, err
    assert not (home / "dagster.yaml").exists()


def test_a_new_home_is_configured_visibly_on_first_use(capsys, data_root, tmp_path, monkeypatch):
    home = tmp_path / "new"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    main(["status"])
    assert f"wrote the instance configuration {home}/dagster.yaml" in capsys.readouterr().err
    assert (home / "dagster.yaml").exists()


def test_the_code_location_says_what_is_missing_on_an_unconfigured_home(tmp_path):
    """What `dagster dev` runs when it loads the code location (``defs`` of upstage_assets.definitions)."""
    home = tmp_path / "dev-home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "UPSTAGE_ASSETS_DATA": str(tmp_path / "data")}
    code = "import upstage_assets.definitions as d; d.defs"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "no dagster.yaml" in result.stderr and "no run queue limits" in result.stderr
    assert "upstage-assets init" in result.stderr
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "no dagster.yaml" not in result.stderr
