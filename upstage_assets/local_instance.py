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
run_queue:
  max_concurrent_runs: 4
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
concurrency:
  pools:
    granularity: op
    default_limit: 4
"""


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
    return DagsterInstance.get()
