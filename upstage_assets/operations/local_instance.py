"""The embedded default's Dagster instance: SQLite storage under ``data/dagster_home``.

`upstage-assets init` (and `make dev`) writes its dagster.yaml once, visibly (telemetry off,
run queue limits, concurrency pools, run monitoring that frees slots of dead runs, run retries
for interrupted workers), so `make demo`, `dagster dev` and the tests all see the same instance
without anyone editing YAML. A home that already holds an instance but no dagster.yaml
(``dagster dev`` started first, on Dagster's defaults) is never written behind its back: the
CLI refuses, and the code location says what is missing when it loads.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from dagster import DagsterInstance

LOCAL_DAGSTER_YAML = """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 5
    tag_concurrency_limits:
      # a backfill never takes every run slot: each one gets at most four runs at a time
      # (with 250 documents per run: the curve in bench/results/throughput.md)
      - key: dagster/backfill
        value:
          applyLimitPerUniqueValue: true
        limit: 4
  pools:
    granularity: op
    default_limit: 4
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    # a finished run's successor starts within a second, not Dagster's default five
    # (bench/results/throughput.md: run starts bound the platform's rate)
    dequeue_interval_seconds: 1
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
  # slots held by runs that died without releasing them are freed a minute after the run ends
  free_slots_after_run_end_seconds: 60
run_retries:
  # a run whose worker was interrupted (SIGTERM) or lost is re-executed by the daemon; the retry
  # skips the documents it finished and resumes the others at their stage. Runs whose documents
  # failed are not retried here: `upstage-assets retry-failed` / the nightly schedule do that.
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false
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


INIT_HINT = "run `upstage-assets init` (or `make dev`), then restart `dagster dev`"


def ensure_dagster_home(path: str | os.PathLike[str]) -> Path:
    home = Path(path).resolve()
    write_instance_config(home)
    return home


def write_instance_config(path: str | os.PathLike[str]) -> bool:
    """Write the project's dagster.yaml into ``path`` unless one is there; whether it was written."""
    home = Path(path).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if config.exists():
        return False
    config.write_text(LOCAL_DAGSTER_YAML)
    return True


def instance_config_problem(path: str | os.PathLike[str]) -> str | None:
    """What is missing when ``path`` has no dagster.yaml (None when it has one)."""
    if (Path(path) / "dagster.yaml").exists():
        return None
    return (f"DAGSTER_HOME={path} has no dagster.yaml, so Dagster runs on its defaults (no run queue limits, "
            f"no run monitoring, no concurrency pools); {INIT_HINT}")


def is_fresh_home(path: str | os.PathLike[str]) -> bool:
    """Nothing there yet: no instance that is already running on other settings."""
    home = Path(path)
    return not home.exists() or not any(home.iterdir())


def warn_if_unconfigured(environment: str) -> None:
    """When the code location loads (``dagster dev``): say so if the local instance is unconfigured."""
    home = os.environ.get("DAGSTER_HOME")
    problem = instance_config_problem(home) if environment == "local" and home else None
    if problem:
        logging.getLogger("upstage_assets").warning(problem)
        print(f"upstage-assets: warning: {problem}", file=sys.stderr, flush=True)


def local_instance(path: str | os.PathLike[str]) -> DagsterInstance:
    home = ensure_dagster_home(path)
    os.environ["DAGSTER_HOME"] = str(home)
    instance = DagsterInstance.get()
    ensure_pool_limits(instance)
    return instance
