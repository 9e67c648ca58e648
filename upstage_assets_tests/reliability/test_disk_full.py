"""A full output disk (issue 20): a write that does not fit raises ``storage_full`` and leaves nothing.

The disk fills by injection (``reliability/disk.py``: ``os.write`` under the output folder stops
at a byte quota, then ENOSPC), because a size-limited filesystem needs a root-only mount. The
whole flow (runs that go on for what fits, ``retry-failed`` once space is back) is
``disk.run_disk_full_scenario``, run by ``upstage_assets_tests.reliability.report`` and ``test_reliability_report.py``.
"""

from __future__ import annotations

import errno
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
