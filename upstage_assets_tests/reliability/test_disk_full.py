"""A full output disk (issue 20): the document fails with ``storage_full``, nothing half-written is
visible, the run goes on, and ``retry-failed`` completes the rest once space is back.

The disk fills by injection (``reliability/disk.py``: ``os.write`` under the output folder stops
at a byte quota, then ENOSPC), because a size-limited filesystem needs a root-only mount.
"""

from __future__ import annotations

import errno
import json
import os

import pytest
from dagster import DagsterInstance

from upstage_assets.errors import StorageFull
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets_tests.execution.documents import write_invoices
from upstage_assets_tests.pipeline.test_batch_isolation import materializations, rows_by_document, run_cli
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


@pytest.fixture
def cli_home(data_root, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.mark.slow
def test_a_disk_that_fills_mid_batch_fails_documents_as_storage_full_and_retry_finishes_them(
        capsys, cli_home, data_root, monkeypatch):
    inbox, first = data_root / "incoming", data_root / "first"
    write_invoices(inbox, 8, seed=5)
    write_invoices(first, 1, seed=6)
    outputs = data_root / "outputs"
    code, _, err = run_cli(capsys, "ingest", str(first), "--wait", "--json", "--no-progress")
    assert code == 0, err
    per_document = sum(p.stat().st_size for p in outputs.rglob("*") if p.is_file())  # what one document writes
    code, _, err = run_cli(capsys, "ingest", str(inbox), "--register-only", "--json", "--no-progress")
    assert code == 0, err

    # Room for the first run of four and a bit; then every write under outputs/ fails with ENOSPC.
    disk = FillingDisk(outputs, free_bytes=int(per_document * 5.5))
    monkeypatch.setattr(os, "write", disk.write)
    code, out, err = run_cli(capsys, "ingest", str(inbox), "--wait", "--batch-size", "4", "--json",
                             "--no-progress", "--verbose")
    assert code == 1 and disk.refused > 0
    assert "storage_full" in err and "no space left" in err
    done = len(rows_by_document(outputs)) - 1
    assert 0 < done < 8, "the runs went on for what fit"
    assert not [p for p in outputs.rglob("*") if p.name.endswith(".tmp")], "no half-written file is left"
    for path in outputs.rglob("*.json"):
        json.loads(path.read_bytes())  # every file a reader can see is whole

    code, out, _ = run_cli(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 1 and status["failed"] + status["unfinished"] == 8 - done
    assert all(f["error_code"] == "storage_full" and f["retryable"] for f in status["failures"])

    disk.free_bytes = 10**9  # space is back
    code, out, err = run_cli(capsys, "retry-failed", "--wait", "--json", "--no-progress")
    assert code == 0, err
    assert json.loads(out)["still_failed"] == []
    assert len(rows_by_document(outputs)) == 9
    code, out, _ = run_cli(capsys, "status", "--json")
    assert code == 0 and json.loads(out)["failed"] == 0
    instance = DagsterInstance.get()
    from dagster import AssetKey

    counts = {k: materializations(instance, AssetKey("validated_documents"), k)
              for k in instance.get_dynamic_partitions("documents")}
    assert set(counts.values()) == {1}, counts
