"""The platform side of bench/throughput.py: registered partitions, a real daemon, run timings.

A backfill is submitted as the UI's Materialize button would, a real daemon (the project's, as
compose runs it) launches its runs, and the clock stops when the Delta table holds every row, every
materialization is logged and no run is left going. Each run's step time (from
Dagster's step stats) gives the documents per second one run worker sustains.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from api_use import ApiUse
from cpu_roles import BENCH, CpuByRole, CpuUse
from harness import PY, ROOT, TreeRssSampler, free_port, table_rows

API_KEY = "bench-key-not-a-secret"


@dataclass
class Measurement:
    name: str
    documents: int
    seconds: float
    peak_rss: int
    note: str = ""
    rate_limited: int = 0  # 429s the emulator answered during this measurement
    worker_docs_per_s: float | None = None  # documents per second of step time, per run worker
    cpu: CpuUse | None = None  # where the host's CPU went while this ran

    @property
    def per_document(self) -> float:
        return self.seconds / self.documents if self.documents else 0.0

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    def cpu_summary(self) -> str:
        return self.cpu.summary(self.documents) if self.cpu else "CPU not sampled"


def platform_env(work: Path, url: str, client: dict[str, float], documents_per_run: int) -> dict[str, str]:
    """The platform's environment: emulator backend, the client's limits, the batch size."""
    env = {**os.environ, "DAGSTER_HOME": str(work / "dagster_home"), "UPSTAGE_ASSETS_BACKEND": "emulator",
           "UPSTAGE_API_BASE_URL": url, "UPSTAGE_API_KEY": API_KEY,
           "UPSTAGE_ASSETS_INBOX": str(work / "inbox"), "UPSTAGE_ASSETS_OUTPUT": str(work / "outputs"),
           "UPSTAGE_ASSETS_INBOX_SENSOR": "stopped", "PYTHONUNBUFFERED": "1",
           "UPSTAGE_ASSETS_DOCUMENTS_PER_RUN": str(documents_per_run)}
    env.update({f"UPSTAGE_CLIENT_{name.upper()}": f"{value:g}" for name, value in client.items()})
    return env


def _register(env: dict[str, str], work: Path, paths: list[Path]) -> tuple[object, object, list[str]]:
    """Copy documents to the inbox and register them as partitions (what the sensor does)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith(("DAGSTER_", "UPSTAGE_"))})
    from upstage_assets.definitions import build_definitions
    from upstage_assets.ingest.folder import scan_inbox
    from upstage_assets.operations.local_instance import local_instance
    from upstage_assets.settings import Settings

    for p in paths:
        shutil.copyfile(p, work / "inbox" / p.name)
    defs = build_definitions(Settings.from_env(backend="emulator"))
    storage = defs.resources["storage"]
    instance = local_instance(work / "dagster_home")
    result = scan_inbox(storage.inbox_store(), storage.output_store(), storage.registry(),
                        default_schema="invoice", max_documents=len(paths) + 1)
    instance.add_dynamic_partitions("documents", result.new_ids)
    return defs, instance, result.new_ids


def _rows(work: Path) -> int:
    return table_rows(work / "outputs")


POLL_S = 1.0  # how often the bench looks for the end; the time it reports is the last run's end


def _finished(instance: object, work: Path, documents: int) -> bool:
    """No run going, every validated_documents materialization logged, every row written.

    Cheapest first: while runs go, the bench reads one count, not the Delta table's log nor every
    partition (at 10,000 documents those reads took a third of a core and slowed what they measured)."""
    from dagster import DagsterRunStatus, RunsFilter

    from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS

    going = instance.get_runs_count(RunsFilter(statuses=[  # type: ignore[attr-defined]
        DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]))
    if going or not instance.get_run_ids(limit=1):  # type: ignore[attr-defined]
        return False
    return (len(instance.get_materialized_partitions(VALIDATED_DOCUMENTS)) >= documents  # type: ignore[attr-defined]
            and _rows(work) >= documents)


def _worker_rate(instance: object, documents: int) -> tuple[float | None, int, str]:
    """Documents per second of step time over every run (one run worker each), the run count, and
    the step threads' bookkeeping (Dagster writes) per document."""
    from upstage_assets.defs.pipeline.progress import BOOKKEEPING_TAG

    run_ids = instance.get_run_ids()  # type: ignore[attr-defined]
    step_seconds, calls, busy_ms = 0.0, 0, 0.0
    for run_id in run_ids:
        for step in instance.get_run_step_stats(run_id):  # type: ignore[attr-defined]
            if step.start_time and step.end_time:
                step_seconds += step.end_time - step.start_time
        tag = instance.get_run_by_id(run_id).tags.get(BOOKKEEPING_TAG, "")  # type: ignore[attr-defined]
        if tag:  # "<calls> calls, <ms> ms each"
            n, ms = int(tag.split()[0]), float(tag.split(", ")[1].split()[0])
            calls, busy_ms = calls + n, busy_ms + n * ms
    bookkeeping = (f"bookkeeping {busy_ms / documents:.0f} ms/doc in {calls / documents:.1f} Dagster writes "
                   f"of {busy_ms / calls:.1f} ms") if calls else ""
    return (documents / step_seconds if step_seconds else None), len(run_ids), bookkeeping


def slot_use(held: list[tuple[float, float]], slots: int) -> str:
    """How full the run slots were: the mean number of runs holding one (launch to end) over the span from
    the first launch to the last end, and the mean refill gap, from a run's end to the launch that took its
    slot (the j-th end, in time order, frees the slot of the (slots + j)-th launch)."""
    if not held:
        return ""
    starts, ends = sorted(s for s, _ in held), sorted(e for _, e in held)
    span = ends[-1] - starts[0]
    gaps = [start - end for start, end in zip(starts[slots:], ends, strict=False)]
    refill = f", refill gap mean/max {sum(gaps) / len(gaps):.1f}/{max(gaps):.1f} s" if gaps else ""
    busy = sum(e - s for s, e in held) / span if span > 0 else 0.0
    return f"; slots held {busy:.2f} of {slots} on average{refill}"


def run_timeline(instance: object, since: float, slots: int | None = None) -> str:
    """Where a run's wall clock goes, averaged over the runs: its creation after the backfill's
    submission, the queue (created to the launcher's STARTING event), the launch (STARTING to started: a
    new process's start and imports), started to its step's start, the step, the step's end to the run's end;
    with ``slots`` (runs at once), how full the slots were (``slot_use``)."""
    from dagster import DagsterEventType

    phases: dict[str, list[float]] = {name: [] for name in
                                      ("created", "queued", "launch", "start->step", "step", "step->end")}
    steps_by_start: list[tuple[float, float]] = []  # (step start, step seconds): does a run's step slow down?
    held: list[tuple[float, float]] = []  # (launch, end): the time each run held a run slot
    for record in instance.get_run_records():  # type: ignore[attr-defined]
        run_id = record.dagster_run.run_id
        steps = [s for s in instance.get_run_step_stats(run_id)  # type: ignore[attr-defined]
                 if s.start_time and s.end_time]
        if not (steps and record.start_time and record.end_time):
            continue
        launched = [e.timestamp for e in instance.all_logs(  # type: ignore[attr-defined]
            run_id, of_type=DagsterEventType.RUN_STARTING)]
        created = record.create_timestamp.timestamp()
        step_start, step_end = min(s.start_time for s in steps), max(s.end_time for s in steps)
        phases["created"].append(created - since)
        if launched:
            phases["queued"].append(launched[0] - created)
            phases["launch"].append(record.start_time - launched[0])
            held.append((launched[0], record.end_time))
        phases["start->step"].append(step_start - record.start_time)
        phases["step"].append(step_end - step_start)
        steps_by_start.append((step_start, step_end - step_start))
        phases["step->end"].append(record.end_time - step_end)
    if not phases["step"]:
        return "no finished runs"
    created = ", ".join(f"{t:.0f}" for t in sorted(phases["created"]))
    if len(created) > 200:  # a long backfill: its range
        created = f"{min(phases['created']):.0f} .. {max(phases['created']):.0f}"
    tenth = max(1, len(steps_by_start) // 10)
    ordered = [seconds for _, seconds in sorted(steps_by_start)]
    trend = (f"; step of the first/last {tenth} runs {sum(ordered[:tenth]) / tenth:.1f}/"
             f"{sum(ordered[-tenth:]) / tenth:.1f} s" if len(ordered) >= 10 else "")
    return ("per run (mean/max) " + ", ".join(f"{name} {sum(v) / len(v):.1f}/{max(v):.1f} s"
                                              for name, v in phases.items() if v)
            + f"; runs created at [{created}] s{trend}" + (slot_use(held, slots) if slots else ""))


def allow_runs_at_once(home: Path, runs: int) -> None:
    """Let one backfill have ``runs`` runs at once (the instance's run queue limit per backfill)."""
    config = home / "dagster.yaml"
    text = config.read_text()
    text = text.replace("max_concurrent_runs: 5", f"max_concurrent_runs: {max(5, runs + 1)}")
    assert "        limit: 4\n" in text, "the local instance config changed: update the bench"
    config.write_text(text.replace("        limit: 4\n", f"        limit: {runs}\n"))


def use_postgres(home: Path, url: str) -> None:
    """The project's local dagster.yaml with its storage in PostgreSQL (as deployments have it), the
    event log the project's pooled one unless ``UPSTAGE_BENCH_STOCK_EVENT_LOG`` asks for Dagster's own."""
    from upstage_assets.operations.event_log_storage import postgres_storage_yaml
    from upstage_assets.operations.local_instance import LOCAL_DAGSTER_YAML

    home.mkdir(parents=True, exist_ok=True)
    storage = (f"storage:\n  postgres:\n    postgres_url: {url}\n" if os.environ.get("UPSTAGE_BENCH_STOCK_EVENT_LOG")
               else postgres_storage_yaml(url))
    (home / "dagster.yaml").write_text(LOCAL_DAGSTER_YAML + storage)


def dequeue_every(home: Path, seconds: int) -> None:
    """The run queue's dequeue interval (the instance's default is 1 s; Dagster's own is 5 s)."""
    config = home / "dagster.yaml"
    text = config.read_text()
    assert "dequeue_interval_seconds: 1\n" in text, "the local instance config changed: update the bench"
    config.write_text(text.replace("dequeue_interval_seconds: 1\n", f"dequeue_interval_seconds: {seconds}\n"))


def measure_platform(name: str, env: dict[str, str], paths: list[Path], work: Path,
                     timeout_s: float, runs_at_once: int = 4, postgres_url: str | None = None,
                     dequeue_interval_s: int | None = None, limit_rps: float | None = None) -> Measurement:
    """The platform on ``paths``; with ``limit_rps`` (the account's limit), where the limit sat unused."""
    (work / "inbox").mkdir(parents=True)
    if postgres_url:
        use_postgres(work / "dagster_home", postgres_url)
    defs, instance, keys = _register(env, work, paths)
    allow_runs_at_once(work / "dagster_home", runs_at_once)
    if dequeue_interval_s is not None:
        dequeue_every(work / "dagster_home", dequeue_interval_s)
    code_server, port = start_code_server(env, work)
    (work / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n"
        f"      location_name: upstage_assets\n")
    spawned = time.time()
    daemon = start_daemon(env, work)
    from upstage_assets.cli.launch import submit_backfill

    note = ""
    try:
        with TreeRssSampler(daemon.pid) as daemon_rss, TreeRssSampler(code_server.pid) as runs_rss:
            _wait_for_the_daemon(instance, since=spawned, timeout_s=300)
            started, submitted = time.monotonic(), time.time()
            api_use = ApiUse(env["UPSTAGE_API_BASE_URL"], limit_rps) if limit_rps else contextlib.nullcontext()
            with CpuByRole(not_measured=("emulator", BENCH)) as cpu, api_use:  # the bench only polls here
                submit_backfill(defs, instance, keys, title="throughput benchmark", reason="benchmark")
                while not _finished(instance, work, len(keys)):
                    if time.monotonic() - started > timeout_s:
                        note = f"timed out with {_rows(work)}/{len(keys)} rows"
                        break
                    time.sleep(POLL_S)
            seconds = time.monotonic() - started
            if not note:  # the work ended with the last run, not at the poll that saw it
                seconds = min(seconds, _last_run_end(instance) - submitted)
        worker_rate, runs, bookkeeping = _worker_rate(instance, len(keys))
        note = note or (f"{runs} runs of {env['UPSTAGE_ASSETS_DOCUMENTS_PER_RUN']}, {runs_at_once} at once; "
                        f"{bookkeeping}; {run_timeline(instance, submitted, runs_at_once)}")
        if isinstance(api_use, ApiUse):
            note += f"; {api_use.summary(seconds)}"
        note += f"; largest run worker {runs_rss.peak_one_descendant / 2**20:,.0f} MiB"
    finally:
        for process in (daemon, code_server):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    return Measurement(name, len(keys), seconds, daemon_rss.peak + runs_rss.peak, note,
                       worker_docs_per_s=worker_rate, cpu=cpu.use)


def start_daemon(env: dict[str, str], work: Path) -> subprocess.Popen[bytes]:
    """The daemon as deployments run it (the project's, as in docker compose): its backfill loop and run
    queue act on new work at once (``operations/daemon.py``); ``UPSTAGE_BENCH_STOCK_DAEMON`` asks for
    Dagster's own ``dagster-daemon``, whose backfill loop looks every 30 s."""
    command = ([shutil.which("dagster-daemon", path=str(Path(PY).parent)) or "dagster-daemon"]
               if os.environ.get("UPSTAGE_BENCH_STOCK_DAEMON") else [PY, "-m", "upstage_assets.operations.daemon"])
    return subprocess.Popen([*command, "run", "-w", str(work / "workspace.yaml")], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(work / "daemon.log", "w"), cwd=ROOT)


def start_code_server(env: dict[str, str], work: Path, timeout_s: float = 300) -> tuple[subprocess.Popen[bytes], int]:
    """The code location as deployments serve it (the project's code server, as in docker compose): the
    daemon reaches it over gRPC and it launches the runs, forked from a warm process
    (``operations/code_server.py``); ``UPSTAGE_BENCH_STOCK_CODE_SERVER`` asks for Dagster's own
    (`dagster code-server start`, a fresh ``spawn`` process per run). A ``python_module`` workspace would
    have the daemon start its own code server and replace it every 60 s (Dagster's workspace refresh),
    importing the definitions again each time on the benchmark's cores."""
    port = free_port()
    dagster = shutil.which("dagster", path=str(Path(PY).parent)) or "dagster"
    serve = ([dagster, "code-server", "start"] if os.environ.get("UPSTAGE_BENCH_STOCK_CODE_SERVER")
             else [PY, "-m", "upstage_assets.operations.code_server"])
    server = subprocess.Popen([*serve, "-h", "127.0.0.1", "-p", str(port), "-m", "upstage_assets.definitions"],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(work / "code-server.log", "w"))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the code server exited ({server.returncode}): see {work / 'code-server.log'}")
        check = subprocess.run([dagster, "api", "grpc-health-check", "-p", str(port)], env=env, cwd=ROOT,
                               capture_output=True)
        if check.returncode == 0:
            return server, port
        time.sleep(1)
    server.kill()
    raise TimeoutError(f"the code server did not answer within {timeout_s:.0f} s")


def _last_run_end(instance: object) -> float:
    return max((r.end_time or 0.0) for r in instance.get_run_records())  # type: ignore[attr-defined]


def _wait_for_the_daemon(instance: object, since: float, timeout_s: float) -> None:
    """The clock starts once the daemons that submit and dequeue runs are beating: a deployment's
    daemon is already up when documents arrive, so its start-up is no part of the platform's rate."""
    wanted = {"BACKFILL", "QUEUED_RUN_COORDINATOR"}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        beats = instance.get_daemon_heartbeats()  # type: ignore[attr-defined]
        if all(kind in beats and beats[kind].timestamp >= since for kind in wanted):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the daemon did not start its {sorted(wanted)} loops within {timeout_s:.0f} s")


def measure_run_per_document(env: dict[str, str], paths: list[Path], work: Path) -> Measurement:
    (work / "inbox").mkdir(parents=True)
    _, _, keys = _register(env, work, paths)
    dagster = shutil.which("dagster", path=str(Path(PY).parent)) or "dagster"
    peak = 0
    started = time.monotonic()
    for key in keys:
        proc = subprocess.Popen([dagster, "asset", "materialize", "-m", "upstage_assets.definitions", "--select",
                                 "raw_documents,parsed_layouts,kie_fields,validated_documents", "--partition", key],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with TreeRssSampler(proc.pid) as rss:
            proc.wait()
        peak = max(peak, rss.peak)
    seconds = time.monotonic() - started
    return Measurement("run-per-document", len(keys), seconds, peak, f"sample of {len(keys)}")
