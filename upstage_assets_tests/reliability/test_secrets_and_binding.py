"""Sentinel secrets given through the environment appear nowhere; servers bind loopback by default.

The searched places: captured logs of this process (platform, Dagster, emulator, HTTP), the
whole data and DAGSTER_HOME trees (event log SQLite, compute logs, registry, raw/parsed JSON,
failures Parquet), every event record serialized, and the messages of the errors raised.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from dagster import DagsterInstance

from upstage_assets.defs.pipeline.keys import PARSED_LAYOUTS, RAW_DOCUMENTS
from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.upstage_api.errors import UpstageError
from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument
from upstage_assets_tests.reliability.bad_input_run import run_bad_inputs
from upstage_assets_tests.reliability.bad_inputs import pdf_bytes, write_bad_inputs
from upstage_assets_tests.reliability.leaks import captured_logs, leaks_in_events, leaks_in_files
from upstage_assets_tests.reliability.platform import emulator_client
from upstage_assets_tests.reliability.secrets import SENTINELS, UPSTAGE_KEY, sentinel_environment

ROOT = Path(__file__).resolve().parents[2]


def _rejected_call_message(tmp_path: Path) -> str:
    """A wrong key and an unreachable host: what the errors say must not carry the key."""
    messages = []
    document = SourceDocument("leak-doc", "a.pdf", pdf_bytes(), "application/pdf", 1)
    with run_emulator_in_thread(EmulatorSettings(api_key="some-other-key")) as emulator:
        for url in (emulator.url, "http://127.0.0.1:9"):
            parser = emulator_client(base_url=url, api_key=UPSTAGE_KEY, max_attempts=2,
                                     rate_limit_store=str(tmp_path / "limits")).create_parser()

            async def go(parser=parser) -> None:
                try:
                    await parser.parse(document, ParseOptions())
                finally:
                    await parser.aclose()

            with pytest.raises(UpstageError) as info:
                asyncio.run(go())
            messages += [str(info.value), repr(info.value), str(info.value.as_record()), repr(parser)]
    return "\n".join(messages)


@pytest.mark.slow
def test_sentinel_secrets_never_reach_logs_events_metadata_errors_or_files(tmp_path):
    log = tmp_path / "captured.log"
    with sentinel_environment(), captured_logs(log):
        write_bad_inputs(tmp_path / "data" / "inbox", sparse_bytes=200 * 1024 * 1024)
        report = run_bad_inputs(tmp_path, api_key=UPSTAGE_KEY, selection=(RAW_DOCUMENTS, PARSED_LAYOUTS))
        errors = _rejected_call_message(tmp_path)
    assert report.parse_requests > 0 and log.stat().st_size > 0, "the scenario really ran and logged"
    assert "401" in errors or "nauthori" in errors

    assert [s for s in SENTINELS if s in errors] == []
    assert leaks_in_files(SENTINELS, [tmp_path]) == []
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert leaks_in_events(SENTINELS, instance) == []


def test_the_emulator_binds_loopback_by_default():
    process = subprocess.Popen([sys.executable, "-m", "upstage_assets.emulator", "--port", "0"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert re.search(r"listening on http://127\.0\.0\.1:\d+", line), line
        deadline = time.monotonic() + 10
        listening: list = []
        while not listening and time.monotonic() < deadline:
            listening = [c.laddr for c in psutil.Process(process.pid).net_connections(kind="inet")
                         if c.status == psutil.CONN_LISTEN]
            time.sleep(0.05)
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    finally:
        process.kill()
        process.wait()


def test_the_demo_webserver_and_thread_emulator_bind_loopback_by_default():
    import inspect

    from upstage_assets.emulator.server import run_emulator_in_thread as start

    assert inspect.signature(start).parameters["host"].default == "127.0.0.1"
    dev = [line for line in (ROOT / "Makefile").read_text().splitlines() if "dagster dev" in line]
    assert dev and all("-h 127.0.0.1" in line for line in dev), dev


def test_the_secret_search_finds_a_secret_in_compressed_parquet_logs_and_sqlite(tmp_path):
    import sqlite3

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"message": [f"error with {UPSTAGE_KEY} inside" * 50]}), tmp_path / "t.parquet",
                   compression="zstd")
    with sqlite3.connect(tmp_path / "events.db") as db:
        db.execute("create table e (body text)")
        db.execute("insert into e values (?)", (f'{{"key": "{SENTINELS[1]}"}}',))
    (tmp_path / "clean.log").write_text("nothing here\n")
    found = leaks_in_files(SENTINELS, [tmp_path])
    assert sorted(Path(f.split(":")[0]).name for f in found) == ["events.db", "t.parquet"]
