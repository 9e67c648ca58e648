"""Where a benchmark phase's CPU went: the host's busy cores and each role's CPU seconds.

On a two-core host the emulator, the Dagster daemon, the code server, the run workers and
PostgreSQL all share the cores, so a phase that keeps the host busy is bound by CPU, not by the
rate limit. Splitting the CPU by role shows what a figure would be with the emulator's share
elsewhere (the real API runs on Upstage's machines).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import psutil

# The first matching fragment of a process's command line names its role.
ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("emulator", ("upstage_assets.emulator",)),
    ("run workers", ("execute_run", "execute_step", "spawn_main", "resume_run", "multiprocessing.forkserver")),
    ("code server", ("code-server", "api grpc", "operations.code_server")),
    ("daemon", ("dagster-daemon", "operations.daemon")),
    ("postgres", ("postgres:", "bin/postgres")),
)
# PostgreSQL forks a backend per connection, and Dagster's stock storages connect for every query:
# most backends live milliseconds, between two samples. The postmaster reaps them, so their CPU is
# in its children's times; those count for this role (and a sampled backend that exits is not
# counted twice).
REAPED_CHILDREN_ROLES = ("postgres",)
BENCH = "bench process"
OTHER = "other: "  # + the process name: a process of no role above (another user's, a tool's)
ELSEWHERE = "rest of the host"  # busy time no sampled process accounts for (the kernel, short-lived processes)


def role_of(command: str, name: str, pid: int, bench_pid: int) -> str:
    if pid == bench_pid:
        return BENCH
    for role, fragments in ROLES:
        if any(fragment in command for fragment in fragments):
            return role
    return OTHER + name


@dataclass
class CpuUse:
    """A phase's CPU: seconds of wall time, busy core-seconds of the whole host, seconds per role."""

    seconds: float = 0.0
    host_busy_s: float = 0.0
    steal_s: float = 0.0  # core-seconds the hypervisor gave other machines while this host wanted them
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    by_role: dict[str, float] = field(default_factory=dict)
    not_measured: tuple[str, ...] = ("emulator",)  # roles outside what is measured (placed elsewhere in the bound)

    @property
    def busy_cores(self) -> float:
        return self.host_busy_s / self.seconds if self.seconds else 0.0

    def per_document_ms(self, documents: int) -> dict[str, float]:
        roles = {**self.by_role, ELSEWHERE: max(0.0, self.host_busy_s - sum(self.by_role.values()))}
        return {role: 1000 * s / documents for role, s in sorted(roles.items(), key=lambda kv: -kv[1])}

    def docs_per_s_alone(self, documents: int) -> float:
        """Documents/s if the host's cores served only what is measured, at this phase's CPU per document:
        the CPU bound on this host with the emulator, the benchmark's own polling and other users elsewhere."""
        kept_ms = sum(ms for role, ms in self.per_document_ms(documents).items()
                      if role not in (*self.not_measured, ELSEWHERE) and not role.startswith(OTHER))
        return 1000 * self.cores / kept_ms if kept_ms else 0.0

    def summary(self, documents: int) -> str:
        """Each role's CPU per document, largest first (processes of no role: the three largest)."""
        per_doc = self.per_document_ms(documents)
        others = [role for role in per_doc if role.startswith(OTHER)]
        shown = {role: ms for role, ms in per_doc.items() if role not in others[3:] and ms >= 0.5}
        parts = ", ".join(f"{role} {ms:.0f}" for role, ms in shown.items())
        steal = f" (and {self.steal_s / self.seconds:.2f} taken by the hypervisor)" if self.steal_s > 0.01 * self.seconds else ""
        return (f"host busy {self.busy_cores:.2f} of {self.cores} cores{steal}; CPU ms per document: {parts}; "
                f"CPU bound without {' and '.join(self.not_measured)}: {self.docs_per_s_alone(documents):.1f} docs/s")


class CpuByRole:
    """Samples every process on the host twice a second and sums each role's CPU time.

    A process is charged what it used while this ran (its CPU before the start is subtracted); one
    that exits loses at most its last half second, except in ``REAPED_CHILDREN_ROLES``. The host's
    busy time comes from ``/proc/stat``.
    """

    def __init__(self, not_measured: tuple[str, ...] = ("emulator",), interval_s: float = 0.5):
        self.interval_s = interval_s
        self.use = CpuUse(not_measured=not_measured)
        self._bench_pid = os.getpid()
        self._first: dict[tuple[int, float], float] = {}  # (pid, create time) -> CPU s when first seen
        self._last: dict[tuple[int, float], tuple[str, float]] = {}  # -> (role, CPU s when last seen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, at_start: bool) -> set[tuple[int, float]]:
        seen = set()
        for process in psutil.process_iter(["pid", "create_time"]):
            key = (process.info["pid"], process.info["create_time"] or 0.0)
            try:
                if key in self._last:
                    role = self._last[key][0]
                else:
                    role = role_of(" ".join(process.cmdline()), process.name(), key[0], self._bench_pid)
                times = process.cpu_times()
                used = times.user + times.system
                if role in REAPED_CHILDREN_ROLES:
                    used += times.children_user + times.children_system
            except psutil.Error:
                continue
            # A process first seen after the start began during the phase: all its CPU counts.
            self._first.setdefault(key, used if at_start else 0.0)
            self._last[key] = (role, used)
            seen.add(key)
        return seen

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample(at_start=False)

    @staticmethod
    def _host_busy() -> tuple[float, float]:
        """Core-seconds this host's processes and kernel used, and those the hypervisor took (steal)."""
        times = psutil.cpu_times()
        steal = getattr(times, "steal", 0.0)
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0) - steal - getattr(times, "guest", 0.0) \
            - getattr(times, "guest_nice", 0.0)  # guest time is in user already
        return busy, steal

    def __enter__(self) -> CpuByRole:
        self._started = time.monotonic()
        self._busy_at_start = self._host_busy()
        self._sample(at_start=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        alive = self._sample(at_start=False)
        self.use.seconds = time.monotonic() - self._started
        busy, steal = self._host_busy()
        self.use.host_busy_s, self.use.steal_s = busy - self._busy_at_start[0], steal - self._busy_at_start[1]
        by_role: dict[str, float] = {}
        for key, (role, used) in self._last.items():
            first = self._first.get(key, 0.0)
            if role in REAPED_CHILDREN_ROLES and key not in alive:
                charged = -first  # its whole life is in its parent's children's times, the part before too
            else:
                charged = max(0.0, used - first)
            by_role[role] = by_role.get(role, 0.0) + charged
        self.use.by_role = {role: max(0.0, seconds) for role, seconds in by_role.items()}
