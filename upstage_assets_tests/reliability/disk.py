"""A disk that fills up, for one folder: ``os.write`` to a file under it stops at a byte quota.

The kernel's own behaviour is copied: a write that does not fit writes what does, and the next
one fails with ``ENOSPC``. Only file descriptors whose path lies under the watched folder are
affected, so Dagster's SQLite files and logs elsewhere keep working. This is an injected fault
(a size-limited filesystem needs a root-only mount, which CI machines cannot do); it runs the
real write path: temp file, partial write, ENOSPC, cleanup.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class FillingDisk:
    def __init__(self, root: Path, free_bytes: int):
        self.root = str(root.resolve())
        self.free_bytes = free_bytes
        self.refused = 0  # writes that hit ENOSPC
        self._write: Callable[[int, bytes], int] = os.write

    def _under_root(self, fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}").startswith(self.root + os.sep)
        except OSError:
            return False

    def write(self, fd: int, data: bytes) -> int:
        if not self._under_root(fd):
            return self._write(fd, data)
        if self.free_bytes <= 0:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = self._write(fd, bytes(memoryview(data)[: self.free_bytes]))
        self.free_bytes -= written
        return written


@dataclass
class DiskFullReport:
    docs: int
    disk_full: int = 0  # documents the full disk stopped (failed storage_full, or unfinished)
    storage_full_recorded: int = 0  # of those, failed with storage_full in status (stored, or kept in run tags)
    storage_full_logged: int = 0  # documents the runs' logs name as failed with [storage_full]
    other_errors: list[str] = field(default_factory=list)
    refused_writes: int = 0
    done_while_full: int = 0
    partial_files: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    recovered: bool = False
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_disk_full_scenario(workdir: Path, docs: int, batch_size: int = 4) -> DiskFullReport:
    """Ingest ``docs`` invoices with the CLI onto an output folder that fills after ~1.4 runs'
    worth of results; then free the space and ``retry-failed``. Runs in this process."""
    import contextlib
    import io
    import json
    import time

    from upstage_assets.cli import main as cli_main
    from upstage_assets_tests.execution.documents import parquet_rows_by_document, write_invoices
    from upstage_assets_tests.reliability.chaos import partial_and_unreadable
    from upstage_assets_tests.reliability.environment import scenario_environment

    started = time.monotonic()
    report = DiskFullReport(docs=docs)
    data = workdir / "data"
    inbox, first, outputs = data / "incoming", data / "first", data / "outputs"
    write_invoices(inbox, docs, seed=31)
    write_invoices(first, 1, seed=37)
    env = {"DAGSTER_HOME": str(workdir / "dagster_home"), "UPSTAGE_ASSETS_DATA": str(data),
           "UPSTAGE_ASSETS_INBOX": str(data / "inbox"), "UPSTAGE_ASSETS_OUTPUT": str(outputs),
           "UPSTAGE_ASSETS_BACKEND": "local", "UPSTAGE_ASSETS_INBOX_SENSOR": "stopped"}

    def cli(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = cli_main([*argv, "--no-progress"] if argv[0] in ("ingest", "retry-failed") else list(argv))
        return code, out.getvalue()

    with scenario_environment(env):
        cli("ingest", str(first), "--wait")
        # The per-document files (registry, raw, parsed, kie, usage): the Delta tables hold one
        # commit for many documents, and delta-rs writes them from Rust, past the os.write hook.
        per_document = sum(p.stat().st_size for p in outputs.rglob("*")
                           if p.is_file() and p.relative_to(outputs).parts[0] not in ("tables", "quarantine"))
        cli("ingest", str(inbox), "--register-only")
        disk = FillingDisk(outputs, free_bytes=int(per_document * batch_size * 1.4))
        os.write = disk.write  # type: ignore[assignment]
        try:
            cli("ingest", str(inbox), "--wait", "--batch-size", str(batch_size))
            report.partial_files, report.unreadable = partial_and_unreadable(outputs)
        finally:
            os.write = disk._write  # type: ignore[assignment]
        report.refused_writes = disk.refused
        report.done_while_full = len(parquet_rows_by_document(outputs)) - 1
        _, out = cli("status", "--json")
        status = json.loads(out)
        report.disk_full = status["failed"] + status["unfinished"]
        report.storage_full_recorded = sum(1 for f in status["failures"] if f["error_code"] == "storage_full")
        report.other_errors = [f["error_code"] for f in status["failures"] if f["error_code"] != "storage_full"]
        report.storage_full_logged = _documents_logged_storage_full()
        code, _ = cli("retry-failed", "--wait")
        _, out = cli("status", "--json")
        after = json.loads(out)
        report.recovered = code == 0 and after["failed"] == 0 and after["unfinished"] == 0
        rows = parquet_rows_by_document(outputs)
        registered = [p.stem for p in (outputs / "registry").glob("*.json")]
        report.lost = [k for k in registered if rows.get(k, 0) == 0]
        report.duplicated = [k for k in registered if rows.get(k, 0) > 1]
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _documents_logged_storage_full() -> int:
    """Documents named in a run log line "document X failed at STAGE: [storage_full] ..."."""
    import re

    from dagster import DagsterInstance

    pattern = re.compile(r"document (\S+) failed at \S+: \[storage_full\]")
    found: set[str] = set()
    with DagsterInstance.get() as instance:
        for run in instance.get_runs():
            for entry in instance.all_logs(run.run_id):
                match = pattern.search(entry.message or "")
                if match:
                    found.add(match.group(1))
    return len(found)
