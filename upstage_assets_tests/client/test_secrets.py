"""The API key never leaves the Authorization header: not in logs, errors, reprs or state files."""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest
from dagster import EnvVar

from upstage_assets.resources.upstage_client import UpstageClient
from upstage_assets.upstage_api.errors import UpstageError
from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument

from .conftest import SENTINEL_KEY
from .documents import make_pdf
from .scripted_server import Answer


def everything_about(error: BaseException) -> str:
    record = error.as_record() if isinstance(error, UpstageError) else {}
    return " ".join([str(error), repr(error), str(record), "".join(traceback.format_exception(error))])


def test_key_absent_from_logs_errors_and_reprs(start_emulator, make_client, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)  # httpx and httpcore debug logs included
    rejecting = start_emulator(api_key="up_some_other_key")
    flaky = start_emulator(fault_rate_429=0.5, fault_rate_5xx=0.3, seed=3)
    document = SourceDocument("s", "s.pdf", make_pdf(1), "application/pdf", 1)
    texts: list[str] = []
    for url in (rejecting.url, flaky.url):
        client = make_client(url, max_attempts=3)
        parser = client.create_parser()
        texts += [repr(client), str(client), repr(parser), repr(parser.http), str(client.model_dump().keys())]
        try:
            asyncio.run(parser.parse(document, ParseOptions()))
        except UpstageError as error:
            texts.append(everything_about(error))
    assert any("401" in t for t in texts)
    assert any("retrying" in r.getMessage() for r in caplog.records)  # the flaky server was retried
    texts += [r.getMessage() for r in caplog.records]
    leaks = [t for t in texts if SENTINEL_KEY in t]
    assert not leaks
    state_files = b"".join(p.read_bytes() for p in (tmp_path / "limits").iterdir())
    assert SENTINEL_KEY.encode() not in state_files


def test_key_echoed_by_a_server_is_redacted(server, make_client):
    """A hostile or buggy server that echoes the header must not get the key into our error."""
    server.defaults["/v1/document-digitization"] = Answer(
        400, {"error": {"message": f"bad header Authorization: Bearer {SENTINEL_KEY}"}})
    parser = make_client(server.url).create_parser()
    with pytest.raises(UpstageError) as caught:
        asyncio.run(parser.parse(SourceDocument("x", "x.pdf", b"%PDF", "application/pdf", 1), ParseOptions()))
    assert SENTINEL_KEY not in everything_about(caught.value)
    assert "[REDACTED]" in caught.value.message


def test_env_var_key_resolves_and_stays_hidden(monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", SENTINEL_KEY)
    resource = UpstageClient(api_key=EnvVar("UPSTAGE_API_KEY"))
    initialized = resource.process_config_and_initialize()
    assert initialized.api_key == SENTINEL_KEY
    assert SENTINEL_KEY not in repr(initialized) and SENTINEL_KEY not in str(initialized)
    assert SENTINEL_KEY not in repr(initialized.create_parser())
