"""Reliability suite: prove the platform loses nothing, repeats nothing and leaks nothing, at size.

    make reliability                      # 500 documents, the corpus when ../shared is there
    .venv/bin/python -m upstage_assets_tests.reliability.report --docs 40 --json out.json

It lives beside the tests it shares its harness with (chaos, bad inputs, leak search), so the
benchmarks under bench/ never import the test package.

Scenarios (all on loopback, real servers, no patching except the full disk):
1. chaos: the emulator injects 20% 429, 5% 5xx, 2% timeouts, 1% malformed and 1% truncated
   bodies over N generated one-page invoices; a subprocess run worker is SIGKILLed mid-backfill;
   then dead runs are marked failed, "process missing" and "reprocess failed" finish the job;
2. spot interruption: a dagster-daemon launches a run whose worker gets SIGTERM mid-batch; the
   daemon retries the run (the project's dagster.yaml) and the retry resumes;
3. PostgreSQL restart: the instance, daemon, run worker and limiter/budget state on a real
   PostgreSQL that is stopped and started while the run works;
4. full disk: the output folder fills mid-ingest (injected ENOSPC under it), then space is back;
5. S3 faults: a fault proxy in front of a moto server throttles, errors after committing,
   resets connections and cuts bodies short while objects are written and read back;
6. async jobs that fail, stall or whose download URLs expire;
7. bad input: generated cases plus the shared robustness corpus;
and through all of it sentinel secrets in the environment, searched for everywhere after.

Ends with one line:
    faults_injected=<n> docs=<n> lost=0 duplicated=0 paid_twice=0 bad_inputs=<n> recorded=<n> leaks=0
    interruptions=<n> db_restarts=<n> disk_full=<n>
(one line; ``paid_twice`` counts documents the emulator billed twice for one endpoint in the
graceful scenarios 2-4. In the chaos run answers are paid twice by design of the faults: those
in flight when the worker is SIGKILLed die with it, and the client's deliberately tight read
timeout (0.8 s) gives up on some answers the emulator still computes and bills; that figure is
printed on the line before, not in it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dagster import DagsterInstance  # noqa: E402

from upstage_assets.defs.pipeline.keys import PARSED_LAYOUTS, RAW_DOCUMENTS  # noqa: E402
from upstage_assets_tests.reliability.bad_input_run import BadInputReport, judge, run_bad_inputs  # noqa: E402
from upstage_assets_tests.reliability.bad_inputs import write_bad_inputs  # noqa: E402
from upstage_assets_tests.reliability.chaos import run_chaos  # noqa: E402
from upstage_assets_tests.reliability.corpus import copy_corpus, corpus_available, judge_corpus  # noqa: E402
from upstage_assets_tests.reliability.db_restart import run_db_restart_scenario  # noqa: E402
from upstage_assets_tests.reliability.disk import run_disk_full_scenario  # noqa: E402
from upstage_assets_tests.reliability.leaks import captured_logs, leaks_in_events, leaks_in_files  # noqa: E402
from upstage_assets_tests.reliability.secrets import SENTINELS, UPSTAGE_KEY, sentinel_environment  # noqa: E402
from upstage_assets_tests.reliability.spot import run_spot_scenario  # noqa: E402


def s3_faults(workdir: Path, objects: int) -> dict[str, Any]:
    """Write and read back ``objects`` objects through the fault proxy; count what went wrong."""
    import boto3
    from dagster_aws.s3 import S3Resource
    from moto.server import ThreadedMotoServer

    from upstage_assets.storage.object_store import S3ObjectStore
    from upstage_assets_tests.reliability.fault_proxy import FaultProxy

    for name in ("werkzeug", "moto"):
        logging.getLogger(name).setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        direct = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
        direct.create_bucket(Bucket="reliability")
        with FaultProxy(f"http://{host}:{port}", rate=0.2, seed=3) as proxy:
            client = S3Resource(endpoint_url=proxy.url, region_name="us-east-1", max_attempts=8).get_client()
            store = S3ObjectStore("s3://reliability/outputs", client)
            payloads = {f"parsed/{i:05d}.json": json.dumps({"i": i, "pad": "x" * (i % 97) * 40}).encode()
                        for i in range(objects)}
            errors = 0
            for key, body in payloads.items():
                try:
                    store.write_bytes(key, body)
                except Exception:
                    errors += 1
            wrong = 0
            for key, body in payloads.items():
                try:
                    wrong += store.read_bytes(key) != body
                except Exception:
                    errors += 1
        stored = {key: direct.get_object(Bucket="reliability", Key=f"outputs/{key}")["Body"].read()
                  for key in payloads}
        half_written = sum(1 for key, body in payloads.items() if stored[key] != body)
        (workdir / "s3.log").write_text(json.dumps(dict(proxy.injected)))
        return {"faults": sum(proxy.injected.values()), "by_kind": dict(proxy.injected), "errors": errors,
                "wrong_reads": wrong, "half_written": half_written, "objects": objects}
    finally:
        server.stop()


def async_jobs(workdir: Path) -> dict[str, Any]:
    """Failed, stalled and expired-URL async jobs: each a bounded, specific, retryable error."""
    from upstage_assets.emulator.server import run_emulator_in_thread
    from upstage_assets.emulator.settings import EmulatorSettings
    from upstage_assets.upstage_api.errors import UpstageError
    from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument
    from upstage_assets_tests.reliability.bad_inputs import pdf_bytes
    from upstage_assets_tests.reliability.platform import emulator_client

    document = SourceDocument("async-0001", "three.pdf", pdf_bytes(3), "application/pdf", 3)
    cases = {"upstage_job_failed": ({"fault_rate_job_failure": 1.0, "seed": 1}, {}),
             "upstage_server_error": ({"async_queue_s": 60.0}, {"poll_timeout_s": 1.5}),
             "upstage_download_expired": ({"download_url_ttl_s": 0.0}, {})}
    results: dict[str, Any] = {}
    for expected, (settings, client) in cases.items():
        emulator_settings = EmulatorSettings(api_key=UPSTAGE_KEY, **{"async_queue_s": 0.05, "async_batch_s": 0.05,
                                                                     **settings})
        with run_emulator_in_thread(emulator_settings) as emulator:
            parser = emulator_client(base_url=emulator.url, api_key=UPSTAGE_KEY, sync_page_limit=1,
                                     rate_limit_store=str(workdir / "limits"), **client).create_parser()

            async def go(parser: Any = parser) -> Any:
                try:
                    return await parser.parse(document, ParseOptions())
                finally:
                    await parser.aclose()

            started = time.monotonic()
            try:
                asyncio.run(go())
                outcome: dict[str, Any] = {"ok": False, "error": None}
            except UpstageError as exc:
                outcome = {"ok": exc.code == expected and exc.retryable, "error": exc.as_record()}
            outcome["seconds"] = round(time.monotonic() - started, 2)
            results[expected] = outcome
    (workdir / "async.json").write_text(json.dumps(results, default=str))
    return results


def bad_input(workdir: Path, with_corpus: bool) -> tuple[BadInputReport, list[str], int, int]:
    """Generated bad input (+ the corpus): problems, inputs refused or expected refused, recorded."""
    cases = write_bad_inputs(workdir / "data" / "inbox")
    corpus_cases = copy_corpus(workdir / "data" / "inbox" / "corpus") if with_corpus else {}
    corpus_cases = {f"corpus/{k}": v for k, v in corpus_cases.items()}
    report = run_bad_inputs(workdir, api_key=UPSTAGE_KEY, selection=(RAW_DOCUMENTS, PARSED_LAYOUTS),
                            run_config={"ops": {"document_pipeline": {"config": {  # long/big corpus files: refused
                                "max_pages": 20, "max_document_bytes": 1024 * 1024}}}})
    problems = judge(report, cases) + judge_corpus(report, corpus_cases)
    refused_expected = [k for k, c in cases.items() if c.expected] + [
        k for k, o in report.outcomes.items() if k.startswith("corpus/") and o.error_code]
    recorded = sum(1 for k in refused_expected if report.outcomes.get(k) and report.outcomes[k].error_code
                   and report.outcomes[k].message and f"{k}:" not in " ".join(problems))
    return report, problems, len(refused_expected), recorded


def run_suite(workdir: Path, docs: int, with_corpus: bool, s3_objects: int, scenario_docs: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    with sentinel_environment(), captured_logs(workdir / "captured.log"):
        chaos = run_chaos(workdir / "chaos", docs, api_key=UPSTAGE_KEY, seed=11)
        summary["chaos"] = asdict(chaos)
        print(f"chaos: {docs} documents, {chaos.faults_injected} faults {chaos.faults_by_kind}, killed after "
              f"{chaos.killed_after}, {chaos.recovery_runs} recovery runs, {chaos.seconds}s", flush=True)
        spot = run_spot_scenario(workdir / "spot", scenario_docs, api_key=UPSTAGE_KEY)
        summary["spot"] = asdict(spot)
        print(f"spot: {scenario_docs} documents, SIGTERM after {spot.extracted_at_signal} extracted, run "
              f"{spot.interrupted_status} ({spot.failure_reason}), retried by the daemon: {spot.retried_by_daemon}, "
              f"final {spot.final_status}, {spot.seconds}s", flush=True)
        db = run_db_restart_scenario(workdir / "db", scenario_docs, api_key=UPSTAGE_KEY)
        summary["db"] = asdict(db)
        print(f"db: {scenario_docs} documents, {db.restarts} restart(s) after {db.validated_before_restart}, "
              f"runs {sorted(db.runs.values())}, daemon recovered: {db.daemon_recovered}, recovery command "
              f"needed: {db.recovery_needed}, spend ${db.spend_usd} vs billed ${db.billed_usd}, {db.seconds}s",
              flush=True)
        disk = run_disk_full_scenario(workdir / "disk", scenario_docs)
        summary["disk"] = asdict(disk)
        print(f"disk: {scenario_docs} documents, {disk.refused_writes} writes refused, {disk.disk_full} stopped "
              f"({disk.storage_full_recorded} recorded storage_full), {disk.done_while_full} done while full, "
              f"recovered: {disk.recovered}, {disk.seconds}s", flush=True)
        summary["s3"] = s3_faults(workdir, s3_objects)
        print(f"s3: {summary['s3']}", flush=True)
        summary["async"] = async_jobs(workdir)
        print(f"async: { {k: (v['ok'], v['seconds']) for k, v in summary['async'].items()} }", flush=True)
        report, problems, bad_inputs, recorded = bad_input(workdir / "bad_input", with_corpus)
        summary["bad_input"] = {"problems": problems, "bad_inputs": bad_inputs, "recorded": recorded,
                                "parse_requests": report.parse_requests, "inputs": len(report.outcomes),
                                "registration_rss_growth_mib": report.registration_rss_growth_mib}
        print(f"bad input: {len(report.outcomes)} inputs, {bad_inputs} refused, {recorded} recorded, "
              f"{len(problems)} problems", flush=True)
        for problem in problems:
            print(f"  problem: {problem}", flush=True)
    leaks = leaks_in_files(SENTINELS, [workdir])
    for home in (workdir / "chaos" / "dagster_home", workdir / "bad_input" / "dagster_home"):
        with DagsterInstance.from_config(str(home)) as instance:
            leaks += leaks_in_events(SENTINELS, instance)
    leaks += [f"async error: {k}" for k, v in summary["async"].items() for s in SENTINELS if s in str(v)]
    summary["leaks"] = leaks
    async_faults = len(summary["async"])
    summary["line"] = {
        "faults_injected": (chaos.faults_injected + summary["s3"]["faults"] + async_faults + spot.interruptions
                            + db.restarts + disk.refused_writes),
        "docs": docs,
        "lost": (len(chaos.lost) + summary["s3"]["half_written"] + summary["s3"]["errors"] + len(spot.lost)
                 + len(db.lost) + len(disk.lost)),
        "duplicated": len(chaos.duplicated) + len({*spot.duplicated, *spot.processed_twice})
                      + len({*db.duplicated, *db.processed_twice}) + len(disk.duplicated),
        "paid_twice": len(spot.paid_twice) + len(db.paid_twice),
        "bad_inputs": bad_inputs, "recorded": recorded, "leaks": len(leaks),
        "interruptions": spot.interruptions, "db_restarts": db.restarts, "disk_full": disk.disk_full}
    summary["ok"] = (not (chaos.partial_files or chaos.unreadable or chaos.in_progress or chaos.unfinished_runs
                          or chaos.still_failing or chaos.paid_twice_unexplained) and chaos.killed_run_failed
                     and not problems
                     and summary["s3"]["wrong_reads"] == 0 and all(v["ok"] for v in summary["async"].values())
                     and spot_ok(spot) and db_ok(db) and disk_ok(disk))
    return summary


def spot_ok(spot: Any) -> bool:
    """SIGTERM: the run failed as interrupted, said what it had, and the daemon's retry finished it."""
    return (spot.interruptions >= 1 and spot.interrupted_status == "FAILURE" and spot.said_so
            and spot.failure_reason == "UNEXPECTED_TERMINATION" and spot.retried_by_daemon
            and spot.final_status == "SUCCESS")


def db_ok(db: Any) -> bool:
    """PostgreSQL restart: the daemon recovered, the README's command (if needed) worked, state held."""
    return (db.restarts >= 1 and db.daemon_recovered and db.recovery_ok
            and abs(db.spend_usd - db.billed_usd) < 1e-6)


def disk_ok(disk: Any) -> bool:
    """Full disk: documents stopped, nothing torn left, each one failed storage_full in status (its record
    kept in the run's tags where the disk refused it), all done after."""
    return (disk.disk_full >= 1 and disk.refused_writes >= 1 and not disk.partial_files and not disk.unreadable
            and not disk.other_errors and disk.storage_full_logged == disk.storage_full_recorded == disk.disk_full
            and disk.recovered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=500, help="documents in the chaos run")
    parser.add_argument("--s3-objects", type=int, default=200)
    parser.add_argument("--scenario-docs", type=int, default=None,
                        help="documents in each of the spot, PostgreSQL and disk scenarios (default: docs/10, 8 at least)")
    parser.add_argument("--no-corpus", action="store_true", help="skip the shared robustness corpus")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    with_corpus = not args.no_corpus and corpus_available()
    if not args.no_corpus and not with_corpus:
        print("the shared robustness corpus is absent: generated bad input only", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="reliability-"))
    scenario_docs = args.scenario_docs or max(8, args.docs // 10)
    summary = run_suite(workdir, args.docs, with_corpus, args.s3_objects, scenario_docs)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"work folder: {workdir}")
    if not summary["ok"]:
        print("FAILED checks besides the line: see --json for details", flush=True)
    chaos = summary["chaos"]
    print(f"chaos: {len(chaos['paid_twice'])} documents paid twice ({len(chaos['in_flight_at_kill'])} had answers "
          f"in flight at the SIGKILL, {len(chaos['recorded_billed_twice'])} recorded by the client as possibly "
          f"billed twice after its 0.8 s read timeout gave up; unexplained: {chaos['paid_twice_unexplained']})",
          flush=True)
    print(" ".join(f"{k}={v}" for k, v in summary["line"].items()), flush=True)
    line = summary["line"]
    clean = line["lost"] == 0 and line["duplicated"] == 0 and line["leaks"] == 0 and line["paid_twice"] == 0 and \
        line["bad_inputs"] == line["recorded"]
    return 0 if clean and summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
