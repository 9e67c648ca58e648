"""Shared pieces of the benchmarks: an emulator process, documents, process-tree RSS sampling."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("UPSTAGE_BENCH_RESULTS", ROOT / "bench" / "results"))  # tests write elsewhere
PY = sys.executable


def free_port() -> int:
    """A loopback port nothing listens on now (for servers the benches start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(*args: str, env: dict[str, str] | None = None,
                   priority: int = 0) -> tuple[subprocess.Popen, str]:
    """``python -m upstage_assets.emulator --port 0 ARGS``; returns the process and its URL. Its
    stderr goes to ``bench-emulator-<pid>.log`` in the temporary folder (kept: a crash is readable).

    ``priority`` (a nice increment, negative: ahead of the processes measured) keeps a stand-in for a
    remote API answering on time while the platform fills the cores; where the host does not allow it
    (no CAP_SYS_NICE), the emulator runs at normal priority and says so on stderr."""
    log = tempfile.NamedTemporaryFile("w", prefix="bench-emulator-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen([PY, "-m", "upstage_assets.emulator", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=log, text=True,
                            env={**os.environ, **(env or {})}, preexec_fn=_niced(priority) if priority else None)
    log.close()
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc, match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the emulator did not start")


def emulator_stats(url: str) -> dict[str, Any]:
    """The emulator's ``/__emulator__/stats`` (requests, 429s, ... since its last reset), without each
    document's billing: building that for 10,000 documents twice a second stalled the emulator."""
    with urllib.request.urlopen(url + "/__emulator__/stats?per_document=false", timeout=30) as response:
        return dict(json.load(response))


def _niced(increment: int) -> Callable[[], None]:
    def nice() -> None:
        try:
            os.nice(increment)
        except PermissionError:
            print(f"bench: the emulator keeps normal priority (nice {increment} not allowed)", file=sys.stderr)
    return nice


def make_documents(n: int, folder: Path, salt: str = "") -> list[Path]:
    """N distinct one-page born-digital invoices (fpdf2), fast to parse, distinct hashes; a ``salt``
    (printed as the reference line) makes them new bytes beside an earlier call's."""
    from fpdf import FPDF

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("helvetica", "B", 18)
        pdf.cell(text=f"INVOICE  Bench Supplies Ltd {i % 17}")
        pdf.ln(12)
        pdf.set_font("helvetica", size=11)
        for line in (f"Invoice No: BN-{i:06d}", f"Date: 2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                     "Bill To: Example Customer", f"Total: {100 + i * 1.25:,.2f} USD",
                     *([f"Reference: {salt}"] if salt else [])):
            pdf.cell(text=line)
            pdf.ln(8)
        path = folder / f"bench-{i:06d}.pdf"
        pdf.output(str(path))
        paths.append(path)
    return paths


class TreeRssSampler:
    """Peak resident memory of a process and all its descendants, sampled every 0.2 s; beside the
    peak of the sum, the peaks of the process alone, of its descendants together, and of the largest
    single descendant (a run worker, under a code server: the sum also counts how many overlapped)."""

    def __init__(self, pid: int, pss: bool = False):
        self.pid = pid
        self.pss = pss  # also the peak of the summed PSS (shared pages counted once: what a cgroup sees)
        self.peak_pss = 0
        self.peak = 0
        self.peak_root = 0
        self.peak_descendants = 0
        self.peak_one_descendant = 0
        self.at_peak: list[tuple[int, str, int]] = []  # (pid, command, rss) of each process at the peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
                sizes = []
                for p in procs:
                    try:
                        sizes.append(p.memory_info().rss)
                    except psutil.Error:
                        sizes.append(0)
                total = sum(sizes)
                if total > self.peak:
                    self.peak = total
                    self.at_peak = [(p.pid, _command(p), size) for p, size in zip(procs, sizes, strict=True)]
                self.peak_root = max(self.peak_root, sizes[0])
                self.peak_descendants = max(self.peak_descendants, sum(sizes[1:]))
                self.peak_one_descendant = max(self.peak_one_descendant, *sizes[1:], 0)
                if self.pss:
                    self.peak_pss = max(self.peak_pss, sum(_pss(p) for p in procs))
            except psutil.Error:
                pass
            self._stop.wait(0.2)

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def _pss(process: psutil.Process) -> int:
    try:
        return int(getattr(process.memory_full_info(), "pss", 0))
    except psutil.Error:
        return 0


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())[-120:]
    except psutil.Error:
        return "?"


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (Debian's server binaries, trust auth on loopback, default
    durability settings); yields a ``postgresql+psycopg2://`` URL of a fresh database."""
    import glob
    import shlex
    import shutil
    import socket
    import tempfile

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/system-deps.sh")
    bin_dir = os.path.dirname(found[-1])

    def as_server_user(command: list[str]) -> list[str]:
        return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)] if os.geteuid() == 0 else command

    data_dir = tempfile.mkdtemp(prefix="bench-pg-")
    if os.geteuid() == 0:
        shutil.chown(data_dir, user="postgres", group="postgres")
    pgdata = os.path.join(data_dir, "pgdata")
    subprocess.run(as_server_user([f"{bin_dir}/initdb", "-D", pgdata, "-A", "trust", "-U", "dagster"]),
                   check=True, capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run(as_server_user([f"{bin_dir}/pg_ctl", "-D", pgdata, "-o", options, "-l",
                                   os.path.join(data_dir, "server.log"), "-w", "start"]), check=True,
                   capture_output=True)
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="dagster", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute('CREATE DATABASE "bench"')
        connection.close()
        yield f"postgresql+psycopg2://dagster@127.0.0.1:{port}/bench"
    finally:
        subprocess.run(as_server_user([f"{bin_dir}/pg_ctl", "-D", pgdata, "-m", "fast", "-w", "stop"]),
                       check=False, capture_output=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def table_rows(outputs: Path) -> int:
    """Rows in the current versions of the validated Delta tables under ``outputs/tables``.

    Counted from each table's committed files, never by listing ``*.parquet``: a Delta folder
    keeps superseded files until vacuum and one commit holds many documents.
    """
    from deltalake import DeltaTable

    tables = outputs / "tables"
    if not tables.exists():
        return 0
    return sum(DeltaTable(str(folder)).to_pyarrow_dataset().count_rows()
               for folder in tables.iterdir() if (folder / "_delta_log").is_dir())
