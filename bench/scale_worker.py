"""A run worker's peak memory on the N-partition instance (``bench/scale.py --worker``).

A batched run addresses its documents as a partition range of the one dynamic partitions
definition, and Dagster resolves that range against every key of it, in the run worker and
again in its step process; what a worker holds may therefore grow with N, which only a real
worker on the N-partition instance shows. Measured the way a deployment runs one batch:

1. ``count`` new one-page invoices (``harness.make_documents``, salted so they are new bytes)
   are put in the state's local-folder inbox;
2. one tick of the real ``new_inbox_documents`` sensor registers them (partitions added as the
   daemon adds them) and asks for its batched runs (``documents_per_run`` documents each);
3. the first run request is launched through a ``dagster-webserver``'s ``launchRun`` mutation on a
   Dagster home beside the state's, with the same PostgreSQL storage but Dagster's default run
   coordinator, so the ``DefaultRunLauncher`` asks the webserver's code server to start the run
   worker, as compose's daemon does. The state's queued runs and backfills are untouched: only a
   daemon dequeues them, and none runs;
4. the worker (the code server's new child) and its step processes are sampled every 0.2 s
   until the run ends: ``worker_mib`` is the peak of their summed RSS.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil

LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

LOCATION = "upstage_assets"  # pyproject.toml's [tool.dagster] code_location_name
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def worker_home(root: Path, postgres_url: str) -> Path:
    """The state's storage under Dagster's default run coordinator: a launch starts the run at once."""
    home = root / "worker_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n" f"storage:\n  postgres:\n    postgres_url: {postgres_url}\n"
        # named: Dagster's default coordinator is the queued one, whose runs wait for a daemon
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n")
    return home


def register_batch(instance: Any, inbox: Path, count: int) -> dict[str, str]:
    """``count`` new documents in the inbox, registered by one sensor tick; the first run's tags."""
    from harness import make_documents

    from upstage_assets.definitions import build_definitions
    from upstage_assets.operations.runner import tick_sensor
    from upstage_assets.settings import Settings

    salt = uuid.uuid4().hex[:12]
    scratch = Path(tempfile.mkdtemp(prefix="scale-worker-docs-"))
    try:
        inbox.mkdir(parents=True, exist_ok=True)
        for path in make_documents(count, scratch, salt=salt):
            shutil.move(str(path), inbox / f"worker-{salt}-{path.name}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    defs = build_definitions(Settings.from_env())
    tick = tick_sensor(defs.resolve_sensor_def("new_inbox_documents"), instance, (defs.resources or {})["storage"])
    if not tick.run_requests:
        raise RuntimeError(f"the inbox sensor requested no run for {count} new documents: {tick.skip_message}")
    return {**tick.run_requests[0].tags, "dagster/sensor_name": "new_inbox_documents"}


def launch(url: str, tags: dict[str, str]) -> str:
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                           "jobName": "process_documents"},
              "runConfigData": {}, "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}}
    answer = httpx.post(f"{url}/graphql", json={"query": LAUNCH_RUN, "variables": {"executionParams": params}},
                        timeout=600)
    answer.raise_for_status()
    result = answer.json()["data"]["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launchRun answered {str(result)[:1000]}")
    return str(result["run"]["runId"])


def _descendants(pid: int) -> dict[int, psutil.Process]:
    try:
        return {p.pid: p for p in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return {}


def _alive(process: psutil.Process) -> bool:
    """Still running: a worker that exited but is not reaped yet (a zombie) counts as gone."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _new_worker(instance: Any, run_id: str, server_pid: int, before: set[int], deadline: float) -> psutil.Process:
    """The code server's new child that runs the job (not multiprocessing's resource tracker)."""
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status.value in FINISHED | {"QUEUED"}:
            raise RuntimeError(f"run {run_id} is {run.status.value} before its worker was seen")
        for process in _descendants(server_pid).values():
            if process.pid in before:
                continue
            try:
                command = " ".join(process.cmdline())
                parent = process.ppid()
            except psutil.Error:
                continue
            if "resource_tracker" not in command and (parent in before or parent == server_pid):
                return process
        time.sleep(0.05)
    raise RuntimeError("no run worker process appeared under the webserver")


def measure_worker(env: dict[str, str], root: Path, postgres_url: str, instance: Any, count: int = 100,
                   backend: str = "local", timeout_s: float = 3600) -> dict[str, Any]:
    """Register ``count`` documents, launch their run, and sample its worker; the figures for the row
    (``worker_*``; ``worker_api_*`` for the ``emulator`` backend: the Upstage API's path, one process,
    against the emulator answering at once)."""
    if backend == "local":
        return _measure(env, root, postgres_url, instance, count, timeout_s, "worker_")
    from harness import start_emulator

    emulator, url = start_emulator("--latency-s", "0")
    try:
        api = {"UPSTAGE_ASSETS_BACKEND": "emulator", "UPSTAGE_API_BASE_URL": url, "UPSTAGE_API_KEY": "bench-key"}
        return _measure({**env, **api}, root, postgres_url, instance, count, timeout_s, "worker_api_")
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


def _measure(env: dict[str, str], root: Path, postgres_url: str, instance: Any, count: int, timeout_s: float,
             prefix: str) -> dict[str, Any]:
    from harness import TreeRssSampler
    from scale import webserver
    from scale_state import upgrade_table

    from upstage_assets.resources.storage import StorageResource

    storage = StorageResource(output_root=env["UPSTAGE_ASSETS_OUTPUT"], inbox=env["UPSTAGE_ASSETS_INBOX"])
    added = upgrade_table(storage.output_store(), storage.layout)
    if added:
        print(f"  worker: the state's table predates the real schema; added its columns {added}", flush=True)
    tags = register_batch(instance, Path(env["UPSTAGE_ASSETS_INBOX"]), count)
    home = worker_home(root, postgres_url)
    with webserver({**env, "DAGSTER_HOME": str(home)}, root, log_name="worker-webserver.log") as (url, server_pid):
        before = set(_descendants(server_pid))
        started = time.monotonic()
        run_id = launch(url, tags)
        worker = _new_worker(instance, run_id, server_pid, before, time.monotonic() + 300)
        with TreeRssSampler(worker.pid, pss=True) as rss:
            while True:
                run = instance.get_run_by_id(run_id)
                if run is not None and run.status.value in FINISHED and not _alive(worker):
                    break
                if time.monotonic() - started > timeout_s:
                    raise RuntimeError(f"run {run_id} did not finish in {timeout_s:.0f}s")
                time.sleep(0.5)
        seconds = time.monotonic() - started
    status = run.status.value
    print(f"  worker ({env['UPSTAGE_ASSETS_BACKEND']} backend): run {run_id} {status} over "
          f"{tags.get('upstage_assets/documents')} documents in "
          f"{seconds:.0f}s, worker pid {worker.pid}, peak RSS {rss.peak / 2**20:.0f} MiB (the worker alone "
          f"{rss.peak_root / 2**20:.0f}, its step processes {rss.peak_descendants / 2**20:.0f}; summed PSS "
          f"{rss.peak_pss / 2**20:.0f}) "
          f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    for pid, command, size in rss.at_peak:
        print(f"    at the peak: pid {pid} {size / 2**20:.0f} MiB  {command}", flush=True)
    if status != "SUCCESS":
        raise RuntimeError(f"the measured run {run_id} ended {status}: see {home}")
    figures = {"mib": rss.peak / 2**20, "alone_mib": rss.peak_root / 2**20, "steps_mib": rss.peak_descendants / 2**20,
               "pss_mib": rss.peak_pss / 2**20, "s": seconds,
               "documents": int(tags.get("upstage_assets/documents", count))}
    return {prefix + name: value for name, value in figures.items()}
