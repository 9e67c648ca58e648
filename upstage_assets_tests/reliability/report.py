"""Reliability suite: prove the platform loses nothing and leaks nothing, at size.

    make reliability                      # 500 documents, the corpus when ../shared is there
    .venv/bin/python -m upstage_assets_tests.reliability.report --docs 40 --json out.json

It lives beside the tests it shares its harness with (chaos, bad inputs, leak search), so the
benchmarks under bench/ never import the test package.

Scenarios (all on loopback, real servers, no patching):
1. chaos: the emulator injects 20% 429, 5% 5xx, 2% timeouts, 1% malformed bodies over N
   generated one-page invoices; a subprocess run worker is SIGKILLed mid-backfill; then dead
   runs are marked failed, "process missing" and "reprocess failed" finish the job;
2. S3 faults: a fault proxy in front of a moto server throttles, errors after committing,
   resets connections and cuts bodies short while objects are written and read back;
3. async jobs that fail, stall or whose download URLs expire;
4. bad input: generated cases plus the shared robustness corpus;
and through all of it sentinel secrets in the environment, searched for everywhere after.

Ends with one line:
    faults_injected=<n> docs=<n> lost=0 duplicated=0 bad_inputs=<n> recorded=<n> leaks=0
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
from upstage_assets_tests.reliability.leaks import captured_logs, leaks_in_events, leaks_in_files  # noqa: E402
from upstage_assets_tests.reliability.secrets import SENTINELS, UPSTAGE_KEY, sentinel_environment  # noqa: E402


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


def run_suite(workdir: Path, docs: int, with_corpus: bool, s3_objects: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    with sentinel_environment(), captured_logs(workdir / "captured.log"):
        chaos = run_chaos(workdir / "chaos", docs, api_key=UPSTAGE_KEY, seed=11)
        summary["chaos"] = asdict(chaos)
        print(f"chaos: {docs} documents, {chaos.faults_injected} faults {chaos.faults_by_kind}, killed after "
              f"{chaos.killed_after}, {chaos.recovery_runs} recovery runs, {chaos.seconds}s", flush=True)
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
        "faults_injected": chaos.faults_injected + summary["s3"]["faults"] + async_faults,
        "docs": docs,
        "lost": len(chaos.lost) + summary["s3"]["half_written"] + summary["s3"]["errors"],
        "duplicated": len(chaos.duplicated),
        "bad_inputs": bad_inputs, "recorded": recorded, "leaks": len(leaks)}
    summary["ok"] = (not (chaos.partial_files or chaos.unreadable or chaos.in_progress or chaos.unfinished_runs
                          or chaos.still_failing) and chaos.killed_run_failed and not problems
                     and summary["s3"]["wrong_reads"] == 0 and all(v["ok"] for v in summary["async"].values()))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=500, help="documents in the chaos run")
    parser.add_argument("--s3-objects", type=int, default=200)
    parser.add_argument("--no-corpus", action="store_true", help="skip the shared robustness corpus")
    parser.add_argument("--json", type=Path, help="write the full report here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    with_corpus = not args.no_corpus and corpus_available()
    if not args.no_corpus and not with_corpus:
        print("the shared robustness corpus is absent: generated bad input only", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="reliability-"))
    summary = run_suite(workdir, args.docs, with_corpus, args.s3_objects)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"work folder: {workdir}")
    if not summary["ok"]:
        print("FAILED checks besides the line: see --json for details", flush=True)
    print(" ".join(f"{k}={v}" for k, v in summary["line"].items()), flush=True)
    line = summary["line"]
    clean = line["lost"] == 0 and line["duplicated"] == 0 and line["leaks"] == 0 and \
        line["bad_inputs"] == line["recorded"]
    return 0 if clean and summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
