"""A real dagster-webserver + dagster-daemon for the project, on 127.0.0.1, in a temp home."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from upstage_assets_tests.fixtures.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV") or REPO_ROOT / ".venv") / "bin"


def stack_env(root: Path) -> dict[str, str]:
    """A fresh instance and data root; telemetry off; the inbox sensor off (the test drives the UI)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPSTAGE_ASSETS_", "DAGSTER_"))}
    env.update({
        "DAGSTER_HOME": str(root / "dagster_home"), "DAGSTER_DISABLE_TELEMETRY": "1",
        "UPSTAGE_ASSETS_DATA": str(root / "data"), "UPSTAGE_ASSETS_INBOX": str(root / "data" / "inbox"),
        "UPSTAGE_ASSETS_OUTPUT": str(root / "data" / "outputs"), "UPSTAGE_ASSETS_BACKEND": "local",
        "UPSTAGE_ASSETS_INBOX_SENSOR": "stopped", "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class DagsterStack:
    root: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen(args, cwd=REPO_ROOT, env=self.env, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True))

    def start(self, timeout: float = 180.0) -> None:
        # Without -m, both read [tool.dagster] in pyproject.toml: the location is named "upstage_assets".
        self._spawn("webserver", [str(VENV_BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.port)])
        self._spawn("daemon", [str(VENV_BIN / "dagster-daemon"), "run"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} exited early; see {self.root}/*.log:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/server_info", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"dagster-webserver did not answer in {timeout}s:\n{self.logs()}")

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in sorted(self.root.glob("*.log")))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
