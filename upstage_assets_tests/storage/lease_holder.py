"""Another process holding a table's compaction lease, for as long as a test needs it."""

from __future__ import annotations

import multiprocessing
from multiprocessing.process import BaseProcess
from typing import Any

from upstage_assets.storage.compaction_lease import compaction_lease
from upstage_assets_tests.storage.concurrent_writers import _store

AREA, TABLE = "tables", "invoice"


def _hold(root: str, endpoint: str | None, ttl_s: float, ready: Any, release: Any) -> None:
    with compaction_lease(_store(root, endpoint), AREA, TABLE, ttl_s=ttl_s):
        ready.set()
        release.wait(timeout=120)


def hold_in_another_process(root: str, endpoint: str | None = None,
                            ttl_s: float = 3600) -> tuple[BaseProcess, Any]:
    """The holding process (started, lease taken) and the event that makes it release and exit."""
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    process = context.Process(target=_hold, args=(root, endpoint, ttl_s, ready, release))
    process.start()
    assert ready.wait(timeout=120), "the other process took the lease"
    return process, release
