"""Where one-partition-per-document stops holding: N documents on PostgreSQL, timed.

Builds a deployment of N processed documents (``bench/scale_state.py``: partitions, four
materializations each through Dagster's storage API, runs, 1 % failed, result files) on a
real PostgreSQL server, then times, at that N:

* the S3 event sensor registering 1,000 new documents (moto S3 + SQS in its own process,
  real notifications), and an idle tick; beside it, the full partition load the sensors did
  before (``get_dynamic_partitions``);
* ``upstage-assets status`` (text and ``--json``) and ``retry-failed --dry-run``, in process, after
  one summary compaction (``storage/summaries.py``; timed) and the sensor's 1,000 new documents;
  with ``--baseline DIR`` the same three commands of another source tree (say main before a
  change, ``git worktree add /tmp/base main``) in a subprocess against the same state, side by side;
* planning "process missing" and "reprocess failed";
* the GraphQL queries behind the UI's asset graph, the ``validated_documents`` partitions page
  and the runs page, against a running ``dagster-webserver``;
* submitting a 10,000-partition backfill through the UI's ``launchPartitionBackfill``;
* the database size and the result store's size per document;
* with ``--worker`` (or ``--only-worker``), a real run worker's peak RSS, its step process included,
  over a batch of 100 new documents launched as the daemon launches it (``bench/scale_worker.py``).

Prints ``documents=<N> tick_s=.. status_s=.. plan_s=.. ui_partitions_s=.. ui_graph_s=..
backfill_submit_s=.. db_mib=.. worker_mib=..`` and appends a row to ``bench/results/scale.csv``;
``--report`` rewrites ``scale.md`` and ``scale.png`` from that CSV.

    .venv/bin/python bench/scale.py --documents 10000 [--baseline /tmp/base] [--skip-sensor] [--skip-ui]
    .venv/bin/python bench/scale.py --documents 100000 --state DIR --only-worker
    .venv/bin/python bench/scale.py --report

``--state DIR`` keeps the deployment (PostgreSQL cluster, DAGSTER_HOME, result files) in DIR and
reuses it on the next call with the same N, so the short measurements can be repeated on a
100,000-document state without rebuilding it (45 minutes on a 2-core host); each call's
figures are merged into ``DIR/row.json`` so a call that only re-measures (``--skip-sensor``)
still appends the whole row. ``--repeat K`` takes the minimum of K timings of the CLI, planning
and UI queries (the first, cold asset-graph query is kept as it is).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, ROOT  # noqa: E402
from scale_queries import ASSET_GRAPH, BACKFILL, PARTITIONS_PAGE, RUNS_PAGE  # noqa: E402

CSV = RESULTS / "scale.csv"
FIELDS = ["documents", "build_s", "tick_s", "tick_sqs_s", "tick_own_s", "tick_ticks", "tick_cpu_s", "tick_moto_cpu_s", "idle_tick_s", "full_partition_load_s", "summary_compact_s", "status_s",
          "status_json_s", "retry_dry_run_s", "baseline_status_s", "baseline_status_json_s", "baseline_retry_dry_run_s", "plan_missing_s", "plan_failed_s", "ui_graph_s", "ui_graph_again_s",
          "ui_partitions_s",
          "ui_partitions_again_s", "ui_runs_s", "ui_graph_after_new_s", "ui_partitions_after_new_s", "partition_add_s",
          "ui_browser_partitions_s", "ui_browser_partitions_after_new_s", "backfill_submit_s", "db_mib", "store_kib_per_doc", "rss_mib",
          "worker_mib", "worker_alone_mib", "worker_steps_mib", "worker_pss_mib", "worker_s",
          "worker_api_mib", "worker_api_alone_mib", "worker_api_steps_mib", "worker_api_pss_mib", "worker_api_s",
          "worker_api_documents", "worker_documents"]

# What only the first call over a fresh state measures: a later call over the kept state folds only
# what changed since, and its webserver finds Dagster's status caches already built.
FIRST_ONLY = {"build_s", "summary_compact_s", "ui_graph_s"}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def environment(root: Path, postgres_url: str) -> dict[str, str]:
    """The deployment's instance: the storages the project ships (``postgres_storage_yaml``: pooled, and new
    partitions keep the UI's status caches valid); before stop 36 this bench used Dagster's stock storage."""
    from upstage_assets.operations.event_log_storage import postgres_storage_yaml

    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)  # a kept state (--state) has it; the port may differ
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n" + postgres_storage_yaml(postgres_url)
        + "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
        "  config:\n    max_concurrent_runs: 0\n")  # the backfill's runs queue; nothing executes
    return {"DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1", "UPSTAGE_ASSETS_BACKEND": "local",
            "UPSTAGE_ASSETS_DATA": str(root / "data"), "UPSTAGE_ASSETS_OUTPUT": str(root / "data" / "outputs"),
            "UPSTAGE_ASSETS_INBOX": str(root / "data" / "inbox"), "UPSTAGE_ASSETS_INBOX_SENSOR": "stopped"}


class TimedSqs:
    """The real SQS client, timing its calls: moto's ReceiveMessage costs O(queue length) (about
    0.3-3 s per call on this machine), which real SQS does not, so the bench reports the tick's
    own time (``tick_own_s``: reads, hashing, registry, partition lookups) beside the SQS time."""

    def __init__(self, client: Any, clock: list[float]):
        self._client, self._clock = client, clock

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            seconds, value = timed(lambda: method(**kwargs))
            self._clock[0] += seconds
            return value
        return call


def measure_sensor(instance: Any, root: Path, n: int, new: int) -> dict[str, float]:
    """``new`` objects announced by S3 events, registered by ``s3_event_documents`` ticks."""
    import boto3
    from scale_state import synthetic_bytes
    from sensor_scale import start_moto

    from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
    from upstage_assets.defs.sensors.s3_events import build_s3_events_sensor, sqs_client_for
    from upstage_assets.ingest.s3_events import EventLimits
    from upstage_assets.operations.runner import tick_sensor
    from upstage_assets.resources.storage import StorageResource
    from upstage_assets.settings import Settings

    for name, value in (("AWS_ACCESS_KEY_ID", "scale"), ("AWS_SECRET_ACCESS_KEY", "scale"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)  # moto accepts any; never real credentials
    moto, url = start_moto()
    try:
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket="scale-inbox")
        queue = sqs.create_queue(QueueName="scale-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket="scale-inbox", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: s3.put_object(Bucket="scale-inbox", Key=f"inbox/new{i:05d}.pdf",
                                                  Body=synthetic_bytes(n + i)), range(new)))
        clock = [0.0]
        sensor = build_s3_events_sensor(Settings(s3_event_queue_url=queue), limits=EventLimits(time_budget_s=50.0),
                                        sqs_factory=lambda storage: TimedSqs(sqs_client_for(storage), clock))
        from dagster_aws.s3 import S3Resource
        storage = StorageResource(output_root=str(root / "data" / "outputs"), inbox="s3://scale-inbox/inbox",
                                  s3=S3Resource(endpoint_url=url, region_name="us-east-1"))
        total, ticks, registered = 0.0, 0, 0
        cpu_before = cpu_seconds(psutil.Process()), cpu_seconds(psutil.Process(moto.pid))
        while registered < new and ticks < 40:
            seconds, data = timed(lambda: tick_sensor(sensor, instance, storage))
            total += seconds
            ticks += 1
            registered += sum(int(r.tags["upstage_assets/documents"]) for r in data.run_requests)
        sqs_s = clock[0]
        # CPU, which a loaded host does not inflate as it does wall time: the sensor's own (this process:
        # reads, hashing, registry writes, partition adds) apart from moto's (S3 and SQS, its own process)
        tick_cpu_s = cpu_seconds(psutil.Process()) - cpu_before[0]
        moto_cpu_s = cpu_seconds(psutil.Process(moto.pid)) - cpu_before[1]
        idle_s, _ = timed(lambda: tick_sensor(sensor, instance, storage))
        full_s, _ = timed(lambda: instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME))
        return {"tick_s": total, "tick_sqs_s": sqs_s, "tick_own_s": total - sqs_s, "tick_ticks": ticks,
                "tick_cpu_s": tick_cpu_s, "tick_moto_cpu_s": moto_cpu_s,
                "idle_tick_s": idle_s, "full_partition_load_s": full_s, "registered": registered}
    finally:
        moto.terminate()
        moto.wait()


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def graphql(url: str, query: str, variables: dict[str, Any] | None = None, timeout: float = 600) -> float:
    seconds, answer = timed(lambda: httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}},
                                               timeout=timeout))
    answer.raise_for_status()
    body = answer.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {str(body['errors'])[:500]}")
    text = str(body)
    if "PythonError" in text or "InvalidStepError" in text:
        raise RuntimeError(f"GraphQL answered an error: {text[:500]}")
    return seconds


@contextlib.contextmanager
def webserver(env: dict[str, str], root: Path, log_name: str = "webserver.log") -> Iterator[tuple[str, int]]:
    """A ``dagster-webserver`` (and the code server it starts) on a free port: its URL and pid."""
    from harness import free_port

    port = free_port()
    log = (root / log_name).open("wb")
    process = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p",
                                str(port)], cwd=ROOT, env={**os.environ, **env}, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            time.sleep(1)
        yield url, process.pid
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def measure_ui(url: str, ids: list[str], repeat: int = 1, add_partition: Callable[[], Any] | None = None
               ) -> dict[str, float]:
    """The UI's queries; with ``add_partition``, the asset graph and the partitions page again after one new
    partition: Dagster keys its status cache of a dynamic partitions definition by a hash of every key, so
    any new document makes the next query rebuild the cache from the event log (what a live deployment pays)."""
    key = {"path": ["validated_documents"]}
    out = {"ui_graph_s": graphql(url, ASSET_GRAPH),  # the first query also builds Dagster's asset status caches
           "ui_graph_again_s": min(graphql(url, ASSET_GRAPH) for _ in range(repeat)),
           "ui_partitions_s": graphql(url, PARTITIONS_PAGE, {"assetKey": key}),
           "ui_partitions_again_s": min(graphql(url, PARTITIONS_PAGE, {"assetKey": key}) for _ in range(repeat)),
           "ui_runs_s": min(graphql(url, RUNS_PAGE) for _ in range(repeat))}
    print(f"  ui queries (load average {os.getloadavg()[0]:.1f}): {out}", flush=True)
    if add_partition is not None:
        graph, page, adds = [], [], []
        for _ in range(repeat):
            adds.append(timed(add_partition)[0])
            graph.append(graphql(url, ASSET_GRAPH))
            adds.append(timed(add_partition)[0])
            page.append(graphql(url, PARTITIONS_PAGE, {"assetKey": key}))
        out["ui_graph_after_new_s"], out["ui_partitions_after_new_s"] = min(graph), min(page)
        out["partition_add_s"] = min(adds)  # what a sensor tick pays to add its documents' partitions
        print(f"  ui after one new partition (load average {os.getloadavg()[0]:.1f}): graph {graph}, "
              f"partitions page {page}, adding the partition {[round(a, 3) for a in adds]}", flush=True)
    selection = ids[-10000:]
    out["backfill_submit_s"] = graphql(url, BACKFILL, {"backfillParams": {
        "partitionNames": selection, "assetSelection": [key], "title": "scale bench"}})
    return out


def database_mib(postgres_url: str) -> float:
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as connection:
        size = connection.execute(sqlalchemy.text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return size / 2**20


def store_kib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024


def measure_baseline(source: Path, env: dict[str, str]) -> dict[str, float]:
    """The CLI commands of another source tree (``scale_cli.py`` with it first on the path)."""
    import json

    out = subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "scale_cli.py")], check=True,
                         capture_output=True, text=True, cwd=source,
                         env={**os.environ, **env, "PYTHONPATH": str(source)})
    timings = json.loads(out.stdout.strip().splitlines()[-1])
    return {f"baseline_{name}": seconds for name, seconds in timings.items()}


def run(n: int, skip_ui: bool, new: int, only_ui: bool = False, skip_sensor: bool = False,
        baseline: Path | None = None, state: Path | None = None, repeat: int = 1,
        browser: bool = False, worker: bool = False, only_worker: bool = False,
        worker_documents: int = 100, worker_backend: str = "local") -> dict[str, Any]:
    import json

    from dagster import DagsterInstance
    from scale_state import build_state, postgres_for

    from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
    from upstage_assets.resources.storage import StorageResource

    root = Path(tempfile.mkdtemp(prefix="upstage-scale-")) if state is None else state
    saved = root / "row.json"
    row: dict[str, Any] = json.loads(saved.read_text()) if saved.exists() else {}
    if row and row.get("documents") != n:
        raise SystemExit(f"{root} holds {row.get('documents')} documents, not {n}")
    row["documents"] = n

    def keep(values: dict[str, Any]) -> None:
        row.update({k: v for k, v in values.items() if k not in FIRST_ONLY or k not in row})
        if state is not None:
            saved.write_text(json.dumps(row, indent=1))
    try:
        with postgres_for(state) as server:
            if row.get("built"):
                postgres_url = server.url("dagster")
            else:
                postgres_url = server.create_database("dagster")
            env = environment(root, postgres_url)
            os.environ.update(env)
            storage = StorageResource(output_root=env["UPSTAGE_ASSETS_OUTPUT"], inbox=env["UPSTAGE_ASSETS_INBOX"])
            with DagsterInstance.get() as instance:
                if not row.get("built"):
                    built = build_state(instance, storage.output_store(), storage.layout, 0, n)
                    keep({"build_s": built.seconds, "built": True})
                    print(f"built {n} documents ({len(built.failed)} failed, {built.runs} runs) in "
                          f"{built.seconds:.0f}s", flush=True)
                else:
                    print(f"reusing the {n}-document state in {root}", flush=True)
                if not only_ui and not only_worker:
                    from upstage_assets.storage.folds import fold_summaries

                    seconds, _ = timed(lambda: fold_summaries(
                        storage.output_store(), storage.layout, grace_s=0))  # nothing is writing: no grace
                    keep({"summary_compact_s": seconds})
                    print(f"  summary fold: {seconds:.1f}s", flush=True)
                    if not skip_sensor:
                        keep({k: v for k, v in measure_sensor(instance, root, n, new).items() if k in FIELDS})
                        print(f"  sensor: {row}", flush=True)
                    keep(measure_cli_and_planning(instance, storage, repeat))
                    print(f"  cli and planning: {row}", flush=True)
                    if baseline is not None:
                        keep(measure_baseline(baseline, env))
                        print(f"  baseline {baseline}: {row}", flush=True)
                if worker or only_worker:
                    from scale_worker import measure_worker

                    keep(measure_worker(env, root, postgres_url, instance, worker_documents, worker_backend))
                if not skip_ui and not only_worker:
                    probes = itertools.count(n + new + 1)

                    def add_partition() -> None:  # a new document's partition, as a sensor adds it
                        from scale_state import synthetic_bytes

                        from upstage_assets.ingest.naming import document_id_for_bytes

                        while True:  # new: a kept state has the earlier calls' probes already
                            key = document_id_for_bytes(synthetic_bytes(next(probes)))
                            if not instance.has_dynamic_partition(DOCUMENTS_PARTITIONS_NAME, key):
                                break
                        instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, [key])
                    with webserver(env, root) as (url, _):
                        ids = list(instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME))
                        keep(measure_ui(url, ids, repeat, add_partition))
                        if browser:
                            from scale_browser import measure_browser

                            keep(measure_browser(url, repeat, add_partition))
                            print(f"  browser: {row}", flush=True)
            keep({"db_mib": database_mib(postgres_url),
                  "store_kib_per_doc": store_kib(root / "data" / "outputs") / max(1, n)})
    finally:
        if state is None:
            shutil.rmtree(root, ignore_errors=True)
    return row


def measure_cli_and_planning(instance: Any, storage: Any, repeat: int = 1) -> dict[str, float]:
    """The CLI commands and the two plans, each the minimum of ``repeat`` timings (a shared host's noise)."""
    from upstage_assets.operations.backlog import failed_documents, missing_documents, partition_order
    from upstage_assets.operations.recovery import plan_batches

    row: dict[str, float] = {}
    from scale_cli import time_commands

    for attempt in range(repeat):
        timings = dict(time_commands())
        timings["plan_missing_s"], _ = timed(lambda: plan_batches(
            partition_order(instance), missing_documents(instance, storage), 50))
        timings["plan_failed_s"], _ = timed(lambda: plan_batches(
            partition_order(instance), failed_documents(storage, retryable_only=True), 50))
        print(f"  cli and planning, try {attempt + 1}/{repeat} (load average {os.getloadavg()[0]:.1f}): {timings}",
              flush=True)
        row = {k: min(v, row.get(k, v)) for k, v in timings.items()}
    row["rss_mib"] = psutil.Process().memory_info().rss / 2**20
    return row


def summary_line(row: dict[str, Any]) -> str:
    def f(name: str) -> str:
        value = row.get(name)
        return "-" if value in (None, "") else f"{float(value):.2f}"
    return (f"documents={row['documents']} tick_s={f('tick_s')} status_s={f('status_s')} "
            f"baseline_status_s={f('baseline_status_s')} plan_s={f('plan_missing_s')} "
            f"ui_partitions_s={f('ui_partitions_s')} ui_graph_s={f('ui_graph_s')} "
            f"backfill_submit_s={f('backfill_submit_s')} db_mib={f('db_mib')} worker_mib={f('worker_mib')} "
            f"worker_api_mib={f('worker_api_mib')}")


def append_csv(row: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    new = not CSV.exists()
    if not new:
        with CSV.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != FIELDS:  # columns were added since: rewrite under the new header
                old = list(reader)
                with CSV.open("w", newline="") as out:
                    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore")
                    writer.writeheader()
                    writer.writerows(old)
    with CSV.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in row.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, action="append", help="N (repeat for several)")
    parser.add_argument("--new", type=int, default=1000, help="new documents the sensor registers (default 1000)")
    parser.add_argument("--only-ui", action="store_true", help="build the state and time only the UI's queries")
    parser.add_argument("--skip-ui", action="store_true", help="no webserver (the GraphQL timings are left out)")
    parser.add_argument("--skip-sensor", action="store_true", help="no sensor part (moto S3 + SQS)")
    parser.add_argument("--baseline", type=Path, help="another source tree whose status/retry-failed are timed too")
    parser.add_argument("--report", action="store_true", help="rewrite scale.md and scale.png from scale.csv")
    parser.add_argument("--state", type=Path, help="keep the deployment in this directory and reuse it (one N)")
    parser.add_argument("--repeat", type=int, default=1, help="minimum of this many CLI/planning/UI timings")
    parser.add_argument("--browser", action="store_true", help="also one page load in Chromium (bench/scale_browser.py)")
    parser.add_argument("--worker", action="store_true",
                        help="also a real run worker's peak RSS over 100 new documents (bench/scale_worker.py)")
    parser.add_argument("--only-worker", action="store_true", help="build the state and measure only the run worker")
    parser.add_argument("--worker-documents", type=int, default=100, help="new documents for --worker (default 100)")
    parser.add_argument("--worker-backend", choices=["local", "emulator"], default="local",
                        help="the run's backend: the local engine (default) or the Upstage API's (the emulator)")
    args = parser.parse_args(argv)
    if args.state is not None and len(args.documents or []) > 1:
        parser.error("--state keeps one deployment: give one --documents")
    for n in args.documents or []:
        row = run(n, args.skip_ui, args.new, args.only_ui, args.skip_sensor, args.baseline,
                  args.state.resolve() if args.state else None, args.repeat, args.browser, args.worker,
                  args.only_worker, args.worker_documents, args.worker_backend)
        print(summary_line(row), flush=True)
        append_csv(row)
    if args.report:
        from scale_report import write_report

        write_report(CSV, RESULTS / "scale.md", RESULTS / "scale.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
