"""A full output disk (issue 20): a write that does not fit raises ``storage_full`` and leaves nothing.

The disk fills by injection (``reliability/disk.py``: ``os.write`` under the output folder stops
at a byte quota, then ENOSPC), because a size-limited filesystem needs a root-only mount. The
whole flow (runs that go on for what fits, ``retry-failed`` once space is back) is
``disk.run_disk_full_scenario``, run by ``upstage_assets_tests.reliability.report`` and ``test_reliability_report.py``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os

import pytest

from upstage_assets.errors import StorageFull
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets_tests.reliability.disk import FillingDisk


def test_a_write_that_does_not_fit_leaves_nothing_and_raises_storage_full(tmp_path, monkeypatch):
    store = LocalObjectStore(tmp_path / "out")
    store.write_bytes("parsed/old.json", b"{}")
    disk = FillingDisk(tmp_path / "out", free_bytes=1000)
    monkeypatch.setattr(os, "write", disk.write)
    store.write_bytes("parsed/a.json", b"x" * 600)
    with pytest.raises(StorageFull) as caught:
        store.write_bytes("parsed/b.json", b"y" * 600)  # 400 bytes fit, then ENOSPC
    assert caught.value.code == "storage_full" and caught.value.retryable
    assert "no space left" in caught.value.message and "retry-failed" in caught.value.message
    assert sorted(p.name for p in (tmp_path / "out" / "parsed").iterdir()) == ["a.json", "old.json"]
    with pytest.raises(StorageFull):
        store.write_bytes("parsed/old.json", b"z" * 10)  # an overwrite that fails keeps the old bytes
    assert (tmp_path / "out" / "parsed" / "old.json").read_bytes() == b"{}"
    assert [i.key for i in store.list("parsed")] == ["parsed/a.json", "parsed/old.json"]


def test_other_write_errors_are_not_called_a_full_disk(tmp_path, monkeypatch):
    store = LocalObjectStore(tmp_path / "out")

    def broken(fd, data):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "write", broken)
    with pytest.raises(OSError) as caught:
        store.write_bytes("a.json", b"{}")
    assert not isinstance(caught.value, StorageFull) and caught.value.errno == errno.EIO
    assert list((tmp_path / "out").rglob("*")) == []


def test_a_failure_the_full_disk_refuses_to_record_is_still_failed_storage_full_and_retried(tmp_path, monkeypatch):
    """The disk is full before the run starts, so each document's failure record (``failures/``,
    on that disk) is refused too: status still lists every document as failed with storage_full
    (not "unfinished"), retry-failed plans them with that reason, and once space is back
    retry-failed finishes them. The full disk is injected (``FillingDisk``), as above."""
    from upstage_assets.cli import main as cli_main
    from upstage_assets_tests.execution.documents import parquet_rows_by_document, write_invoices

    data = tmp_path / "data"
    inbox, outputs = data / "incoming", data / "outputs"
    keys_written = write_invoices(inbox, 3, seed=41)
    for name, value in {"DAGSTER_HOME": str(tmp_path / "dagster_home"), "UPSTAGE_ASSETS_DATA": str(data),
                        "UPSTAGE_ASSETS_INBOX": str(data / "inbox"), "UPSTAGE_ASSETS_OUTPUT": str(outputs),
                        "UPSTAGE_ASSETS_BACKEND": "local", "UPSTAGE_ASSETS_INBOX_SENSOR": "stopped"}.items():
        monkeypatch.setenv(name, value)

    def cli(*argv: str) -> tuple[int, dict]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = cli_main(list(argv))
        return code, json.loads(out.getvalue()) if "--json" in argv else {}

    assert cli("ingest", str(inbox), "--register-only")[0] == 0
    disk = FillingDisk(outputs, free_bytes=0)
    with monkeypatch.context() as full:
        full.setattr(os, "write", disk.write)
        cli("ingest", str(inbox), "--wait", "--no-progress")
        assert disk.refused > 0 and not list(outputs.glob("failures/*.parquet")), "no record reached the full disk"
        code, status = cli("status", "--json")
    assert code == 1 and status["unfinished"] == 0, status["unfinished_documents"]
    assert status["failed"] == len(keys_written)
    assert {(f["error_code"], f["retryable"]) for f in status["failures"]} == {("storage_full", True)}
    code, plan = cli("retry-failed", "--dry-run", "--json")
    planned = [d for run in plan["runs_planned"] for d in run["planned"]]
    assert plan["failed"] == len(keys_written) and plan["unfinished"] == 0
    assert len(planned) == len(keys_written) and all("[storage_full]" in d["reason"] for d in planned), planned

    assert cli("retry-failed", "--wait", "--no-progress")[0] == 0  # space is back
    code, after = cli("status", "--json")
    assert code == 0 and after["failed"] == after["unfinished"] == 0, after["failures"]
    assert sorted(parquet_rows_by_document(outputs).values()) == [1] * len(keys_written)
