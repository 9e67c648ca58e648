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
from upstage_assets_tests.reliability.environment import daemon_env, scenario_environment
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
    shipped = yaml.safe_load(instance_yaml_for("aws").read_text())
    config.update({key: shipped[key] for key in ("run_storage", "event_log_storage", "schedule_storage")})
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


@dataclass
class DbRestartReport:
    docs: int
    restarts: int = 0
    validated_before_restart: int = 0
    daemon_recovered: bool = False
    runs: dict[str, str] = field(default_factory=dict)
    recovery_needed: bool = False  # the README's `retry-failed --wait` finished what the runs left
    recovery_ok: bool = True
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    processed_twice: list[str] = field(default_factory=list)
    paid_twice: list[str] = field(default_factory=list)
    spend_usd: float = 0.0  # today's spend in the shared state (PostgreSQL) after the restart
    billed_usd: float = 0.0  # what the emulator billed
    seconds: float = 0.0


def run_db_restart_scenario(workdir: Path, docs: int, *, api_key: str, latency_s: float = 0.6,
                            price_per_page: float = 0.01) -> DbRestartReport:
    """Documents through a daemon-launched run on a PostgreSQL instance that restarts mid-run."""
    from upstage_assets.cli import main as cli_main
    from upstage_assets.emulator.server import run_emulator_in_thread
    from upstage_assets.emulator.settings import EmulatorSettings
    from upstage_assets.upstage_api.budget import utc_day
    from upstage_assets.upstage_api.shared_state import PostgresStateStore
    from upstage_assets_tests.execution.documents import (
        exactly_once,
        register_documents,
        write_invoices,
    )
    from upstage_assets_tests.fixtures.postgres import restartable_postgres
    from upstage_assets_tests.reliability.billing import billed_answers, paid_twice

    started = time.monotonic()
    report = DbRestartReport(docs=docs)
    data, home = workdir / "data", workdir / "dagster_home"
    write_invoices(data / "inbox", docs, seed=29)
    with restartable_postgres() as pg, \
            run_emulator_in_thread(EmulatorSettings(api_key=api_key, latency_s=latency_s)) as emulator:
        dagster_url, state_url = postgres_home(home, pg)
        env = daemon_env(data, home, emulator.url, api_key=api_key, state_store=state_url,
                         DAGSTER_POSTGRES_URL=dagster_url, UPSTAGE_ASSETS_BUDGET_PER_DAY_USD="1000")
        # in this process too: the recovery command runs here, on the same instance
        with scenario_environment(env), DagsterInstance.from_config(str(home)) as instance:
            keys = register_documents(data / "inbox", data / "outputs", instance)
            outcome = restart_mid_backfill(instance, pg, home, env, keys, workdir / "daemon.log",
                                           timeout_s=300 + docs * 4)
            report.restarts, report.runs = outcome.restarts, outcome.runs
            report.validated_before_restart = outcome.validated_before_restart
            report.daemon_recovered = outcome.daemon_heartbeat_after_restart
            if len(instance.get_materialized_partitions(VALIDATED_DOCUMENTS)) < docs:
                report.recovery_needed = True
                report.recovery_ok = cli_main(["retry-failed", "--wait", "--no-progress"]) == 0
            billed = billed_answers(emulator.url)
            report.lost, report.duplicated, report.processed_twice = exactly_once(instance, data / "outputs", keys)
            report.paid_twice = paid_twice(billed, keys)
            report.billed_usd = round(sum(sum(g.values()) for g in billed.values()) * price_per_page, 6)
        store = PostgresStateStore(state_url)
        try:
            report.spend_usd = round(store.spend(f"default:day:{utc_day()}"), 6)
        finally:
            store.close()
    report.seconds = round(time.monotonic() - started, 1)
    return report
