"""PostgreSQL restarted under a running backfill: instance, daemon, run worker and shared state on it.

The instance stores runs, events and schedules in PostgreSQL (the deployments' storage section),
the limiter and budget live in the same database (``UPSTAGE_ASSETS_STATE_STORE``), a real
dagster-daemon launches the runs, and the server is stopped (``pg_ctl -m fast``: every
connection cut) and started again while documents are in flight. Afterwards what the README
says an operator does (``retry-failed`` for anything left) is all that may be needed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from dagster import DagsterInstance

from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
from upstage_assets.deploy import instance_yaml_for
from upstage_assets.operations.local_instance import LOCAL_DAGSTER_YAML
from upstage_assets_tests.fixtures.postgres import RestartablePostgres
from upstage_assets_tests.reliability.spot import FINISHED, launch_range_run, running_daemon


@dataclass
class RestartOutcome:
    restarts: int = 0
    validated_before_restart: int = 0
    runs: dict[str, str] = field(default_factory=dict)  # run id -> status
    daemon_heartbeat_after_restart: bool = False
    recovery_needed: bool = False  # runs ended with documents left: retry-failed finished them


def postgres_home(home: Path, pg: RestartablePostgres) -> tuple[str, str]:
    """A DAGSTER_HOME whose dagster.yaml is the local one plus the deployments' PostgreSQL storage."""
    url = pg.server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
    config = yaml.safe_load(LOCAL_DAGSTER_YAML)
    config["storage"] = yaml.safe_load(instance_yaml_for("aws").read_text())["storage"]
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return url, pg.server.plain_url(url.rsplit("/", 1)[-1])


def restart_mid_backfill(instance: DagsterInstance, pg: RestartablePostgres, home: Path, env: dict[str, str],
                         keys: list[str], log: Path, *, restarts: int = 1, down_s: float = 3.0,
                         timeout_s: float = 400.0) -> RestartOutcome:
    """Launch one run over ``keys`` through the daemon; restart PostgreSQL while it works; wait."""
    outcome = RestartOutcome()
    with running_daemon(home, env, log):
        launch_range_run(home, env, keys, concurrency=4)
        deadline = time.monotonic() + timeout_s
        step = max(1, len(keys) // (restarts + 2))
        while outcome.restarts < restarts and time.monotonic() < deadline:
            done = len(instance.get_materialized_partitions(VALIDATED_DOCUMENTS))
            if done >= step * (outcome.restarts + 1):
                if outcome.restarts == 0:
                    outcome.validated_before_restart = done
                pg.stop()
                time.sleep(down_s)
                pg.start()
                outcome.restarts += 1
                restarted_at = time.time()
            time.sleep(0.3)
        if outcome.restarts < restarts:
            raise TimeoutError(f"only {outcome.restarts} restarts before the run ended or timed out")
        while time.monotonic() < deadline:  # runs (and the daemon's retries of them) finish
            runs = _retrying(instance.get_runs)
            beats = _retrying(instance.get_daemon_heartbeats)
            outcome.daemon_heartbeat_after_restart = any(b.timestamp > restarted_at for b in beats.values())
            settled = time.time() - restarted_at > 15
            if runs and all(r.status in FINISHED for r in runs) and settled and \
                    outcome.daemon_heartbeat_after_restart:
                break
            time.sleep(1.0)
    outcome.runs = {r.run_id: r.status.value for r in instance.get_runs()}
    return outcome


def _retrying(call, attempts: int = 20):
    """Reads by the test itself, while the server may still be coming back."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(1.0)
    raise AssertionError("unreachable")
