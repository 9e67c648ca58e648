"""The environment a reliability scenario runs under: the platform's settings, set and restored.

The scenarios configure the platform the way production does, through ``UPSTAGE_ASSETS_*`` and
``DAGSTER_HOME`` variables; the in-process parts (CLI, runs, recovery commands) read them from
``os.environ``, and the daemon and run workers get the same mapping. One scenario must never
leave its folders or backend behind for the next one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scenario_environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block; afterwards each name as it was (or unset)."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def platform_env(data: Path, home: Path, base_url: str) -> dict[str, str]:
    """The emulator backend on ``base_url``, with inbox and outputs under ``data``."""
    return {"UPSTAGE_ASSETS_DATA": str(data), "UPSTAGE_ASSETS_INBOX": str(data / "inbox"),
            "UPSTAGE_ASSETS_OUTPUT": str(data / "outputs"), "UPSTAGE_ASSETS_BACKEND": "emulator",
            "UPSTAGE_API_BASE_URL": base_url, "DAGSTER_HOME": str(home)}


def daemon_env(data: Path, home: Path, base_url: str, *, api_key: str, state_store: str,
               **extra: str) -> dict[str, str]:
    """``platform_env`` for a dagster-daemon and its run workers: the key and the limiter/budget
    state passed on, the inbox sensor stopped (the scenario launches its runs), no telemetry."""
    return {**platform_env(data, home, base_url), "UPSTAGE_API_KEY": api_key,
            "UPSTAGE_ASSETS_STATE_STORE": state_store, "UPSTAGE_ASSETS_INBOX_SENSOR": "stopped",
            "DAGSTER_DISABLE_TELEMETRY": "1", **extra}
