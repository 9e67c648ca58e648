"""Issue 22, defect 4: an address nothing listens on is "cannot connect to <url>", not a server error."""

from __future__ import annotations

import asyncio

import pytest

from upstage_assets.cli import main
from upstage_assets.upstage_api.errors import UpstageServerError, UpstageUnreachable
from upstage_assets.upstage_api.http import RetryPolicy, UpstageHttp
from upstage_assets_tests.fixtures.ports import free_port


def test_connection_refused_names_the_url_and_the_setting():
    base_url = f"http://127.0.0.1:{free_port()}"
    http = UpstageHttp(base_url, "up_secret_key", retry=RetryPolicy(max_attempts=3, base_delay_s=0.01,
                                                                     max_delay_s=0.02))
    with pytest.raises(UpstageUnreachable) as caught:
        asyncio.run(http.request("POST", "/v1/document-digitization", endpoint="document-parse"))
    error = caught.value
    assert not isinstance(error, UpstageServerError), "a refused connection is not a server error"
    assert error.code == "upstage_unreachable" and error.retryable
    assert f"cannot connect to {base_url}" in error.message and "UPSTAGE_API_BASE_URL" in error.message
    assert "up_secret_key" not in error.message


def test_ingest_wait_refuses_an_unreachable_base_url_before_registering(capsys, data_root, tmp_path, monkeypatch):
    base_url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("UPSTAGE_ASSETS_BACKEND", "emulator")
    monkeypatch.setenv("UPSTAGE_API_KEY", "any")
    monkeypatch.setenv("UPSTAGE_API_BASE_URL", base_url)
    (data_root / "inbox" / "a.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    code = main(["ingest", str(data_root / "inbox"), "--wait", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"cannot connect to {base_url}" in err and "UPSTAGE_API_BASE_URL" in err
    assert not (data_root / "outputs" / "registry").exists()


def test_one_default_emulator_port_for_the_emulator_the_client_and_the_readme():
    from pathlib import Path

    from upstage_assets.emulator.__main__ import DEFAULT_PORT, build_parser
    from upstage_assets.settings import Settings

    assert build_parser().parse_args([]).port == DEFAULT_PORT
    assert Settings(backend="emulator").base_url == f"http://127.0.0.1:{DEFAULT_PORT}"
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "UPSTAGE_API_BASE_URL" in readme and f"127.0.0.1:{DEFAULT_PORT}" in readme
    assert "--port 8787" not in readme
