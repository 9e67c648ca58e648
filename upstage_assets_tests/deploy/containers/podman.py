"""podman from the tests: commands with timeouts, waiting, and cleanup of what a test created.

Every container, pod and volume a test starts carries the label ``upstage-assets-test=<token>``
(or the compose project's name), so a finalizer removes exactly those, even after a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

REPO = Path(__file__).resolve().parents[3]
PODMAN = shutil.which("podman")
IMAGE = os.environ.get("UPSTAGE_ASSETS_IMAGE", "upstage-assets:cpu")
LABEL = "upstage-assets-test"

needs_podman = pytest.mark.skipif(
    PODMAN is None, reason="podman absent: the container tests need podman (make system-deps installs it)")

T = TypeVar("T")


def podman(*args: str, timeout: float = 120, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """One podman command; a non-zero exit fails with its output (check=True)."""
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 2.0,
               on_timeout: Callable[[], str] | None = None) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` (and extra context)."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # a server still starting answers with connection errors
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(interval)
    context = on_timeout() if on_timeout else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}. {last_error}\n{context}")


def remove_labelled(token: str) -> None:
    """Remove the containers, pods and volumes labelled with this test token."""
    selector = f"label={LABEL}={token}"
    for kind in ("container", "pod", "volume"):
        listed = podman(kind, "ls", "-q", "--filter", selector, *(["-a"] if kind == "container" else []),
                        check=False, timeout=60)
        ids = listed.stdout.split()
        if ids:
            podman(kind, "rm", "-f", *ids, check=False, timeout=120)


def logs(container: str, tail: int = 60) -> str:
    done = podman("logs", "--tail", str(tail), container, check=False, timeout=30)
    return f"--- logs of {container} ---\n{done.stdout}{done.stderr}"
