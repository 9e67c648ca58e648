"""The embedded default's Dagster instance: SQLite storage under ``data/dagster_home``.

Writes a dagster.yaml once (telemetry off, run queue limits, concurrency pools, run
monitoring that frees slots of dead runs) so `make demo`, `dagster dev` and the tests all
see the same instance without anyone editing YAML.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance

LOCAL_DAGSTER_YAML = """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 4
    tag_concurrency_limits:
      # a backfill never takes every run slot: each one gets at most two runs at a time
      - key: dagster/backfill
        value:
          applyLimitPerUniqueValue: true
        limit: 2
  pools:
    granularity: op
    default_limit: 4
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
  # slots held by runs that died without releasing them are freed a minute after the run ends
  free_slots_after_run_end_seconds: 60
"""

#: Per-pool step limits set on a fresh instance (``dagster instance concurrency set`` changes them).
UPSTAGE_API_POOL_LIMIT = 4  # steps calling the Upstage API at once; the shared limiter paces requests


def default_pool_limits() -> dict[str, int]:
    """One ``gpu`` slot per device on this host (one on a CPU-only host), four for the API."""
    from upstage_assets.defs.executors import detect_devices

    return {"gpu": max(1, len(detect_devices())), "upstage_api": UPSTAGE_API_POOL_LIMIT}


def ensure_pool_limits(instance: DagsterInstance, limits: dict[str, int] | None = None) -> None:
    """Set the pools' limits once; a limit someone already set is left as it is."""
    configured = instance.event_log_storage.get_concurrency_keys()
    for pool, limit in (limits or default_pool_limits()).items():
        if pool not in configured:
            instance.event_log_storage.set_concurrency_slots(pool, limit)


def ensure_dagster_home(path: str | os.PathLike[str]) -> Path:
    home = Path(path).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_DAGSTER_YAML)
    return home


def local_instance(path: str | os.PathLike[str]) -> DagsterInstance:
    home = ensure_dagster_home(path)
    os.environ["DAGSTER_HOME"] = str(home)
    instance = DagsterInstance.get()
    ensure_pool_limits(instance)
    return instance
