"""How close the platform runs to the API's ceiling, measured side by side in one run.

    python bench/throughput.py [--documents N] [--quick] [--latency-s 0.3] [--rps 20]

Starts an emulator (300 ms per request, 20 requests/s per endpoint, no page limit),
generates N one-page documents and runs, one after the other:

1. ideal      the project's client in a bare asyncio loop at the limit: parse + extract
2. platform   partitions + one asset backfill run by a real dagster-daemon and run launcher,
              until the Delta table holds N rows
3. sequential one document at a time, parse then extract, same client (users' scripts)
4. per-doc    one `dagster asset materialize` process per partition, on a small sample

Prints a Markdown table (wall time, documents/s, ratio to ideal, peak RSS of each process
tree), writes it and a PNG chart to bench/results/, and ends with one line
``platform/ideal=<x> sequential/platform=<y> per-doc/platform=<z>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import PY, RESULTS, ROOT, TreeRssSampler, make_documents, mib, start_emulator, table_rows  # noqa: E402

API_KEY = "bench-key-not-a-secret"


@dataclass
class Measurement:
    name: str
    documents: int
    seconds: float
    peak_rss: int
    note: str = ""

    @property
    def per_document(self) -> float:
        return self.seconds / self.documents if self.documents else 0.0


def client_resource(url: str, rps: float):
    from upstage_assets.resources.upstage_client import UpstageClient

    return UpstageClient(base_url=url, api_key=API_KEY, parse_requests_per_second=rps,
                         extract_requests_per_second=rps, parse_pages_per_minute=1e9, max_in_flight=256,
                         max_connections=256)  # same headroom as the platform's emulator backend


async def _one(parser, path: Path, schema, index: int):
    from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument

    document = SourceDocument(f"doc{index}", path.name, path.read_bytes(), "application/pdf", 1)
    parsed = await parser.parse(document, ParseOptions())
    await parser.extract(document, schema, parsed)


async def _client_run(url: str, rps: float, paths: list[Path], concurrent: bool, state_dir: str) -> None:
    from upstage_assets.schemas.extraction import load_schema

    resource = client_resource(url, rps).model_copy(update={"rate_limit_store": state_dir})
    parser = resource.create_parser()
    schema = load_schema("invoice")
    try:
        if concurrent:
            await asyncio.gather(*(_one(parser, p, schema, i) for i, p in enumerate(paths)))
        else:
            for i, p in enumerate(paths):
                await _one(parser, p, schema, i)
    finally:
        await parser.aclose()


def measure_client(name: str, url: str, rps: float, paths: list[Path], concurrent: bool, work: Path) -> Measurement:
    state_dir = str(work / f"limits-{name}")
    with TreeRssSampler(os.getpid()) as rss:
        started = time.monotonic()
        asyncio.run(_client_run(url, rps, paths, concurrent, state_dir))
        seconds = time.monotonic() - started
    return Measurement(name, len(paths), seconds, rss.peak)


def _platform_env(work: Path, url: str) -> dict[str, str]:
    return {**os.environ, "DAGSTER_HOME": str(work / "dagster_home"), "UPSTAGE_ASSETS_BACKEND": "emulator",
            "UPSTAGE_API_BASE_URL": url, "UPSTAGE_API_KEY": API_KEY,
            "UPSTAGE_ASSETS_INBOX": str(work / "inbox"), "UPSTAGE_ASSETS_OUTPUT": str(work / "outputs"),
            "UPSTAGE_ASSETS_INBOX_SENSOR": "stopped", "PYTHONUNBUFFERED": "1"}


def _register(work: Path, url: str, paths: list[Path]) -> tuple[object, object, list[str]]:
    """Copy documents to the inbox and register them as partitions (what the sensor does)."""
    env = _platform_env(work, url)
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "UPSTAGE_ASSETS_BACKEND", "UPSTAGE_API_BASE_URL",
                                            "UPSTAGE_API_KEY", "UPSTAGE_ASSETS_INBOX", "UPSTAGE_ASSETS_OUTPUT",
                                            "UPSTAGE_ASSETS_INBOX_SENSOR")})
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


def measure_platform(url: str, paths: list[Path], work: Path, timeout_s: float) -> Measurement:
    (work / "inbox").mkdir(parents=True)
    defs, instance, keys = _register(work, url, paths)
    (work / "workspace.yaml").write_text(
        f"load_from:\n  - python_module:\n      module_name: upstage_assets.definitions\n"
        f"      working_directory: {ROOT}\n")
    daemon = subprocess.Popen(["dagster-daemon", "run", "-w", str(work / "workspace.yaml")],
                              env=_platform_env(work, url), stdout=subprocess.DEVNULL,
                              stderr=open(work / "daemon.log", "w"), cwd=ROOT,
                              executable=shutil.which("dagster-daemon", path=str(Path(PY).parent)))
    from upstage_assets.cli.launch import submit_backfill

    note = ""
    try:
        with TreeRssSampler(daemon.pid) as rss:
            started = time.monotonic()
            submit_backfill(defs, instance, keys, title="throughput benchmark", reason="benchmark")
            while _rows(work) < len(keys):
                if time.monotonic() - started > timeout_s:
                    note = f"timed out with {_rows(work)}/{len(keys)} rows"
                    break
                time.sleep(0.5)
            seconds = time.monotonic() - started
        runs = len(instance.get_run_ids())
        note = note or f"{runs} runs"
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
    return Measurement("platform", len(keys), seconds, rss.peak, note)


def measure_run_per_document(url: str, paths: list[Path], work: Path) -> Measurement:
    (work / "inbox").mkdir(parents=True)
    _, _, keys = _register(work, url, paths)
    env = _platform_env(work, url)
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


def write_results(measurements: list[Measurement], ideal: Measurement, line: str, args: argparse.Namespace) -> str:
    rows = ["| mode | documents | wall s | docs/s | s/doc | ratio to ideal (per doc) | peak RSS | note |",
            "|---|---|---|---|---|---|---|---|"]
    for m in measurements:
        rows.append(f"| {m.name} | {m.documents} | {m.seconds:.1f} | {m.documents / m.seconds:.2f} | "
                    f"{m.per_document:.3f} | {m.per_document / ideal.per_document:.2f} | {mib(m.peak_rss)} | {m.note} |")
    header = (f"# Throughput: emulator {args.latency_s * 1000:.0f} ms/request, {args.rps:g} req/s per endpoint\n\n")
    table = header + "\n".join(rows) + f"\n\n{line}\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "throughput.md").write_text(table)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([m.name for m in measurements], [m.per_document / ideal.per_document for m in measurements],
           color=["#55a868", "#4c72b0", "#c44e52", "#8172b2"][: len(measurements)])
    ax.set_yscale("log")
    ax.set_ylabel("seconds per document / ideal")
    ax.set_title("Throughput relative to the rate-limit floor")
    fig.tight_layout()
    fig.savefig(RESULTS / "throughput.png", dpi=100)
    plt.close(fig)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="50 documents, small samples")
    parser.add_argument("--latency-s", type=float, default=0.3)
    parser.add_argument("--rps", type=float, default=20.0)
    parser.add_argument("--sequential-sample", type=int, default=None)
    parser.add_argument("--per-doc-sample", type=int, default=None)
    parser.add_argument("--timeout-s", type=float, default=1800)
    args = parser.parse_args(argv)
    n = 50 if args.quick and args.documents == 1000 else args.documents
    sequential_n = args.sequential_sample or (10 if args.quick else 60)
    per_doc_n = args.per_doc_sample or (2 if args.quick else 5)

    emulator, url = start_emulator("--latency-s", str(args.latency_s), "--rps-limits",
                                   f"document-parse={args.rps:g},information-extraction={args.rps:g}")
    work = Path(tempfile.mkdtemp(prefix="throughput-"))
    try:
        paths = make_documents(n, work / "documents")
        ideal = measure_client("ideal", url, args.rps, paths, concurrent=True, work=work)
        print(f"ideal: {ideal.seconds:.1f}s for {n}", flush=True)
        platform = measure_platform(url, paths, work / "platform", args.timeout_s)
        print(f"platform: {platform.seconds:.1f}s for {n} ({platform.note})", flush=True)
        sequential = measure_client("sequential", url, args.rps, paths[:sequential_n], concurrent=False, work=work)
        sequential.note = f"sample of {sequential_n}"
        print(f"sequential: {sequential.per_document:.3f}s/doc", flush=True)
        per_doc_paths = make_documents(per_doc_n, work / "per-doc-documents")
        per_doc = measure_run_per_document(url, per_doc_paths, work / "per-doc")
        print(f"run-per-document: {per_doc.per_document:.2f}s/doc", flush=True)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    line = (f"platform/ideal={platform.per_document / ideal.per_document:.2f} "
            f"sequential/platform={sequential.per_document / platform.per_document:.2f} "
            f"per-doc/platform={per_doc.per_document / platform.per_document:.2f}")
    print(write_results([ideal, platform, sequential, per_doc], ideal, line, args))
    shutil.rmtree(work, ignore_errors=True)
    print(line)
    return 0 if platform.note.endswith("runs") else 1


if __name__ == "__main__":
    sys.exit(main())
