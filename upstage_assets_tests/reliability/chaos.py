"""The chaos scenario: an API that throttles, fails and stalls, and a run worker SIGKILLed mid-backfill.

The emulator injects 429s, 5xx, timeouts (held just past the client's read timeout),
malformed and truncated bodies; a real subprocess runs one backfill-sized run and is killed with SIGKILL
while it materializes; then the platform's own recovery finishes the job: dead runs marked
failed, "process missing", then "reprocess failed" for documents whose retries ran out. What
is measured is what a user cares about: every document in the Parquet tables exactly once,
nothing half-written, no partition stuck "in progress".
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from dagster import DagsterInstance, DagsterRunStatus

from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
from upstage_assets.defs.pipeline.partitions import documents_partitions
from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.operations.backlog import failed_documents, missing_documents
from upstage_assets.operations.launch import mark_dead_runs_failed
from upstage_assets_tests.execution.documents import (
    parquet_rows_by_document,
    persistent_instance,
    register_documents,
    write_invoices,
)
from upstage_assets_tests.launching import launch_batched_runs
from upstage_assets_tests.reliability.billing import billed_answers, paid_twice
from upstage_assets_tests.reliability.environment import platform_env, scenario_environment
from upstage_assets_tests.reliability.platform import TIMEOUT_HOLD_S, reliability_definitions
from upstage_assets_tests.reliability.repaid import (
    in_flight_at_kill,
    recorded_billed_twice,
    unexplained,
    wait_for_answers_in_flight,
)

ROOT = Path(__file__).resolve().parents[2]
RECOVERY_CONFIG = {"ops": {"document_pipeline": {"config": {"max_quarantine_fraction": 1.0}}}}


def chaos_settings(api_key: str, seed: int) -> EmulatorSettings:
    return EmulatorSettings(api_key=api_key, seed=seed, fault_rate_429=0.20, fault_rate_5xx=0.05,
                            fault_rate_timeout=0.02, fault_rate_malformed=0.01, fault_rate_truncated=0.01,
                            timeout_hold_s=TIMEOUT_HOLD_S)


@dataclass
class ChaosReport:
    docs: int
    faults_injected: int = 0
    faults_by_kind: dict[str, int] = field(default_factory=dict)
    killed_after: int = 0  # documents validated when the worker was killed
    killed_run_failed: bool = False
    recovery_runs: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    paid_twice: list[str] = field(default_factory=list)  # billed twice for one endpoint (SIGKILL, read timeouts)
    in_flight_at_kill: list[str] = field(default_factory=list)  # billed mid-stage when the worker died (repaid.py)
    recorded_billed_twice: list[str] = field(default_factory=list)  # the client's possibly_billed_twice > 0
    paid_twice_unexplained: list[str] = field(default_factory=list)  # paid twice for neither reason
    partial_files: list[str] = field(default_factory=list)  # *.tmp left behind
    unreadable: list[str] = field(default_factory=list)  # parquet/json that does not load
    in_progress: list[str] = field(default_factory=list)  # partitions stuck "in progress"
    unfinished_runs: list[str] = field(default_factory=list)
    still_failing: list[str] = field(default_factory=list)
    seconds: float = 0.0


def emulator_stats(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/__emulator__/stats", timeout=10) as response:
        return json.loads(response.read())


def _kill_mid_run(instance: DagsterInstance, env: dict[str, str], log: Path, at_least: int,
                  timeout_s: float) -> int:
    """Start the worker, SIGKILL it once ``at_least`` documents are validated; return how many were."""
    with log.open("ab") as out:
        worker = subprocess.Popen([sys.executable, "-m", "upstage_assets_tests.reliability.chaos_worker"],
                                  cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and worker.poll() is None:
            done = len(instance.get_materialized_partitions(VALIDATED_DOCUMENTS))
            if done >= at_least:
                break
            time.sleep(0.1)
        if worker.poll() is not None:
            raise RuntimeError(f"the run worker exited (rc={worker.returncode}) before it could be killed; see {log}")
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    return len(instance.get_materialized_partitions(VALIDATED_DOCUMENTS))


def partial_and_unreadable(root: Path) -> tuple[list[str], list[str]]:
    """Leftover temp files, and result files that do not load, anywhere under ``root``."""
    partial = [str(p) for p in root.rglob("*.tmp")]
    unreadable = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        try:
            if path.suffix == ".parquet":
                pq.read_table(io.BytesIO(path.read_bytes()))
            elif path.suffix == ".json" and path.parent.name == "_delta_log":  # one action per line
                for line in path.read_bytes().splitlines():
                    json.loads(line)
            elif path.suffix == ".json":
                json.loads(path.read_bytes())
        except Exception:
            unreadable.append(str(path))
    return partial, unreadable


def stuck_partitions(instance: DagsterInstance) -> list[str]:
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    value = get_and_update_asset_status_cache_value(instance, VALIDATED_DOCUMENTS, documents_partitions)
    if value is None:
        return []
    return list(value.deserialize_in_progress_partition_subsets(documents_partitions).get_partition_keys())


def run_chaos(workdir: Path, docs: int, *, api_key: str, seed: int = 7, kill_fraction: float = 0.3,
              max_recovery_rounds: int = 4, log: Path | None = None) -> ChaosReport:
    """The whole scenario in ``workdir``; the caller has put secrets (key, AWS) in the environment."""
    started = time.monotonic()
    data, home = workdir / "data", workdir / "dagster_home"
    log = log or workdir / "worker.log"
    report = ChaosReport(docs=docs)
    write_invoices(data / "inbox", docs, seed=seed)
    instance = persistent_instance(home)
    keys = register_documents(data / "inbox", data / "outputs", instance)
    with run_emulator_in_thread(chaos_settings(api_key, seed)) as emulator:
        env = platform_env(data, home, emulator.url)
        with scenario_environment(env):
            defs = reliability_definitions()
            report.killed_after = _kill_mid_run(instance, env, log, max(1, int(docs * kill_fraction)),
                                                timeout_s=120 + docs * 3)
            killed = instance.get_runs(limit=1)[0]
            wait_for_answers_in_flight(lambda: emulator_stats(emulator.url))
            in_flight = in_flight_at_kill(instance, billed_answers(emulator.url), data / "outputs", killed.run_id)
            report.killed_run_failed = killed.run_id in mark_dead_runs_failed(instance) and \
                instance.get_run_by_id(killed.run_id).status == DagsterRunStatus.FAILURE
            storage = defs.resources["storage"]
            for round_ in range(max_recovery_rounds):
                todo = missing_documents(instance) if round_ == 0 else sorted(
                    set(failed_documents(storage)) | set(missing_documents(instance)))
                if not todo:
                    break
                reason = "process missing" if round_ == 0 else "reprocess failed"
                report.recovery_runs += len(launch_batched_runs(instance, todo, 50, defs=defs, reason=reason,
                                                                run_config=RECOVERY_CONFIG))
            report.still_failing = failed_documents(storage)
        report.faults_by_kind = emulator_stats(emulator.url)["faults_injected"]
        billed = billed_answers(emulator.url)
        report.paid_twice = paid_twice(billed, keys)
    recorded = recorded_billed_twice(data / "outputs", keys)
    report.in_flight_at_kill = sorted({d for d, _ in in_flight})
    report.recorded_billed_twice = sorted({d for d, _ in recorded})
    report.paid_twice_unexplained = unexplained(billed, report.paid_twice, in_flight, recorded)
    report.faults_injected = sum(report.faults_by_kind.values())
    rows = parquet_rows_by_document(data / "outputs")
    report.lost = [k for k in keys if rows.get(k, 0) == 0]
    report.duplicated = [k for k in keys if rows.get(k, 0) > 1]
    report.partial_files, report.unreadable = partial_and_unreadable(workdir)
    report.in_progress = stuck_partitions(instance)
    report.unfinished_runs = [r.run_id for r in instance.get_runs()
                              if r.status in (DagsterRunStatus.STARTED, DagsterRunStatus.STARTING)]
    report.seconds = round(time.monotonic() - started, 1)
    return report
