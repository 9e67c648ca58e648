"""A spot interruption, for real: a dagster-daemon launches a run worker, which gets SIGTERM mid-batch.

The daemon (with the project's own local dagster.yaml: queued runs, run retries) launches the
run through the DefaultRunLauncher, so the worker is Dagster's own run worker process; the
test reads its pid from the run's "Started process for run (pid: N)" event and sends it
SIGTERM while documents are in flight, exactly what ECS/Kubernetes do to a reclaimed Spot
task. The daemon then retries the run by itself. Every process starts with SIGINT at its
default (a backgrounded shell leaves it ignored, and Dagster maps SIGTERM to SIGINT's handler).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

from upstage_assets.dagster_compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from upstage_assets.defs.pipeline.keys import KIE_FIELDS, VALIDATED_DOCUMENTS
from upstage_assets.operations.local_instance import ensure_dagster_home

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PID_EVENT = re.compile(r"Started process for run \(pid: (\d+)\)")
FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def write_workspace(path: Path) -> Path:
    path.write_text("load_from:\n  - python_module:\n      module_name: upstage_assets.definitions\n"
                    f"      working_directory: {ROOT}\n")
    return path


@contextmanager
def running_daemon(home: Path, env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``dagster-daemon run`` on the instance in ``home`` (its own session, killed as a group after)."""
    ensure_dagster_home(home)
    workspace = write_workspace(home / "workspace.yaml")
    with log.open("ab") as out:
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], cwd=ROOT,
                                  env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                  preexec_fn=default_sigint, start_new_session=True)
    try:
        yield daemon
    finally:
        if daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(timeout=10)


def launch_range_run(home: Path, env: Mapping[str, str], keys: list[str], concurrency: int) -> None:
    """Queue one ``process_documents`` run over ``keys`` (a partition range), as a backfill chunk would."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    config = {"ops": {"document_pipeline": {"config": {"max_concurrent_documents": concurrency}}}}
    subprocess.run([str(BIN / "dagster"), "job", "launch", "-w", str(home / "workspace.yaml"),
                    "-j", "process_documents", "--tags", json.dumps(tags), "--config-json", json.dumps(config)],
                   cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True, preexec_fn=default_sigint,
                   timeout=180)


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    for entry in instance.all_logs(run_id):
        found = PID_EVENT.search(entry.message or "")
        if found:
            return int(found.group(1))
    return None


def interrupt_when(instance: DagsterInstance, extracted_at_least: int, timeout_s: float) -> tuple[str, int]:
    """SIGTERM the first run's worker once ``extracted_at_least`` documents have their fields; (run id, count then).

    Counted at ``kie_fields``, the last stage materialized per document: validated rows are
    committed to the Delta table in batches and materialized after each commit, so counting
    them would send the signal only once a whole batch is through.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        run = runs[-1] if runs else None  # the first run launched
        if run is not None:
            if run.status in FINISHED:
                raise RuntimeError(f"run {run.run_id} ended ({run.status}) before it could be interrupted")
            done = len(instance.get_materialized_partitions(KIE_FIELDS))
            pid = run_worker_pid(instance, run.run_id) if done >= extracted_at_least else None
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                return run.run_id, done
        time.sleep(0.2)
    raise TimeoutError(f"no run reached {extracted_at_least} extracted documents in {timeout_s:.0f} s")


def wait_for_retries(instance: DagsterInstance, run_id: str, documents: int, timeout_s: float) -> list[str]:
    """Wait until every document is validated and no run is active; return the run ids, oldest first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        active = [r for r in runs if r.status not in FINISHED]
        done = len(instance.get_materialized_partitions(VALIDATED_DOCUMENTS))
        if not active and done >= documents:
            return [r.run_id for r in reversed(runs)]
        time.sleep(0.5)
    states = {r.run_id[:8]: (r.status.value, r.tags.get("dagster/retry_number")) for r in instance.get_runs()}
    raise TimeoutError(f"the interrupted run {run_id[:8]} was not finished by retries: {states}")


@dataclass
class SpotReport:
    docs: int
    interruptions: int = 0
    extracted_at_signal: int = 0
    interrupted_status: str = ""
    failure_reason: str = ""
    retried_by_daemon: bool = False  # the daemon re-executed the run without anyone asking
    final_status: str = ""
    said_so: bool = False  # the interrupted worker logged what it finished and what it left
    runs: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)  # more than one row in the tables
    processed_twice: list[str] = field(default_factory=list)  # an asset materialized twice
    paid_twice: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_spot_scenario(workdir: Path, docs: int, *, api_key: str, latency_s: float = 0.6,
                      concurrency: int = 4) -> SpotReport:
    """Documents through a daemon-launched run whose worker gets SIGTERM a quarter of the way in."""
    from upstage_assets.emulator.server import run_emulator_in_thread
    from upstage_assets.emulator.settings import EmulatorSettings
    from upstage_assets_tests.execution.documents import (
        exactly_once,
        register_documents,
        write_invoices,
    )
    from upstage_assets_tests.reliability.billing import billed_answers, paid_twice
    from upstage_assets_tests.reliability.environment import daemon_env

    started = time.monotonic()
    report = SpotReport(docs=docs)
    data, home = workdir / "data", workdir / "dagster_home"
    write_invoices(data / "inbox", docs, seed=23)
    ensure_dagster_home(home)  # the project's local dagster.yaml: queued runs, run retries
    with run_emulator_in_thread(EmulatorSettings(api_key=api_key, latency_s=latency_s)) as emulator:
        env = daemon_env(data, home, emulator.url, api_key=api_key, state_store=str(workdir / "state"))
        with DagsterInstance.from_config(str(home)) as instance:
            keys = register_documents(data / "inbox", data / "outputs", instance)
            with running_daemon(home, env, workdir / "daemon.log"):
                launch_range_run(home, env, keys, concurrency=concurrency)
                run_id, report.extracted_at_signal = interrupt_when(
                    instance, extracted_at_least=max(1, docs // 4), timeout_s=120 + docs * 4)
                report.interruptions = 1
                runs = wait_for_retries(instance, run_id, docs, timeout_s=200 + docs * 4)
            billed = billed_answers(emulator.url)
            interrupted = instance.get_run_by_id(run_id)
            assert interrupted is not None
            report.interrupted_status = interrupted.status.value
            report.failure_reason = interrupted.tags.get("dagster/failure_reason", "")
            retries = [r for r in (instance.get_run_by_id(i) for i in runs if i != run_id) if r is not None]
            report.runs = len(runs)
            report.retried_by_daemon = bool(retries) and retries[0].parent_run_id == run_id and \
                retries[0].tags.get("dagster/retry_number") is not None
            report.final_status = retries[-1].status.value if retries else report.interrupted_status
            report.said_so = any("SIGTERM received: stopped taking documents" in (e.message or "")
                                 for e in instance.all_logs(run_id))
            report.lost, report.duplicated, report.processed_twice = exactly_once(instance, data / "outputs", keys)
            report.paid_twice = paid_twice(billed, keys)
    report.seconds = round(time.monotonic() - started, 1)
    return report
