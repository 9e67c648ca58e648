"""The command line: settings from flags and UPSTAGE_EMULATOR_* variables, and a real server process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from upstage_assets.emulator.__main__ import build_parser, settings_from_args
from upstage_assets.emulator.settings import EmulatorSettings


def test_environment_variables_set_every_kind_of_knob():
    settings = EmulatorSettings.from_env({
        "UPSTAGE_EMULATOR_API_KEY": "up_k", "UPSTAGE_EMULATOR_SEED": "9",
        "UPSTAGE_EMULATOR_FAULT_RATE_5XX": "0.25", "UPSTAGE_EMULATOR_SYNC_MAX_PAGES": "7",
        "UPSTAGE_EMULATOR_RPS_LIMITS": "document-parse=3,ocr=2", "UPSTAGE_EMULATOR_TIMEOUT_MODE": "close"})
    assert settings.api_key == "up_k" and settings.seed == 9 and settings.fault_rate_5xx == 0.25
    assert settings.sync_max_pages == 7 and settings.timeout_mode == "close"
    assert settings.rps_limits == {"document-parse": 3.0, "ocr": 2.0}


def test_unknown_endpoint_group_is_refused():
    with pytest.raises(ValueError):
        EmulatorSettings.from_env({"UPSTAGE_EMULATOR_RPS_LIMITS": "parse=3"})


def test_flags_win_over_environment(monkeypatch):
    monkeypatch.setenv("UPSTAGE_EMULATOR_LATENCY_S", "2.0")
    monkeypatch.setenv("UPSTAGE_EMULATOR_SEED", "4")
    args = build_parser().parse_args(["--latency-s", "0.5", "--documented-limits"])
    settings = settings_from_args(args)
    assert settings.latency_s == 0.5 and settings.seed == 4
    assert settings.rps_limits["document-parse"] == 3.0


def test_module_runs_a_server_and_prints_its_url():
    env = {**os.environ, "UPSTAGE_EMULATOR_API_KEY": "up_cli"}
    process = subprocess.Popen([sys.executable, "-m", "upstage_assets.emulator", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline().strip() if process.stdout else ""
        assert line.startswith("emulator listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1]
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(url + "/v1/document-digitization/requests",
                                     headers={"Authorization": "Bearer up_cli"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.status_code == 200 and response.json() == {"requests": []}
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("bad", [{"timeout_mode": "sometimes"}, {"fault_rate_5xx": 1.5},
                                 {"rps_limits": {"parse": 3.0}}, {"ppm_limits": {"ocr": 0.0}}])
def test_bad_settings_are_refused_at_construction(bad):
    with pytest.raises(ValueError):
        EmulatorSettings(**bad)
