"""How close the platform runs to the account's rate limit, measured side by side in one run.

    python bench/throughput.py [--documents N] [--quick] [--latency-s 0.3] [--rps 20]

Starts an emulator in benchmark mode (300 ms per request, ``--rps`` requests/s per endpoint,
no page limit), generates N one-page documents, computes every answer once before any clock
starts (the warm routes), so a request costs the emulator microseconds of CPU, then runs:

1. ideal      the project's client in a bare asyncio loop at the limit: parse + extract
2. platform   partitions + one asset backfill run by a real dagster-daemon and run launcher,
              until the Delta table holds N rows
3. sequential one document at a time, parse then extract, same client (users' scripts)
4. per-doc    one `dagster asset materialize` process per partition, on a small sample
5. ceiling    the platform against a second emulator with no latency and no limits, on a
              sample: the orchestrator's own limit, in documents/s of step time per run worker

The limit L is ``--rps`` documents/s (one parse and one extraction per document, each endpoint
at ``--rps``). Prints a Markdown table (wall time, documents/s, fraction of L, ratio to ideal,
429s, peak RSS of each process tree) and each phase's CPU by process role with the CPU bound it
sets (``cpu_roles.py``), writes them and a PNG chart to bench/results/, and ends with

``limit_docs_per_s=<L> ideal=<fraction of L> platform=<fraction of L> platform/ideal=<x>
per-doc/platform=<z> overhead_ceiling_docs_per_s=<c>`` (one line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_roles import CpuByRole
from harness import (  # noqa: E402
    RESULTS,
    ROOT,
    TreeRssSampler,
    emulator_stats,
    make_documents,
    mib,
    postgres_database,
    start_emulator,
)
from throughput_platform import (  # noqa: E402
    API_KEY,
    Measurement,
    measure_platform,
    measure_run_per_document,
    platform_env,
)

WARM_PREFIX = "/__emulator__/warm"  # upstage_assets.emulator.app.WARM_PREFIX
UNLIMITED_RPS = 100_000.0
CEILING_RUNS_AT_ONCE = 1
CLIENT_RPS_FIELDS = ("parse_requests_per_second", "async_requests_per_second", "extract_requests_per_second",
                     "classify_requests_per_second", "poll_requests_per_second")


def client_resource(url: str, rps: float, in_flight: int, skew_s: float | None = None):
    from upstage_assets.resources.upstage_client import UpstageClient

    skew = {} if skew_s is None else {"rate_limit_max_skew_s": skew_s}
    return UpstageClient(base_url=url, api_key=API_KEY, parse_requests_per_second=rps,
                         extract_requests_per_second=rps, parse_pages_per_minute=1e9, max_in_flight=in_flight,
                         max_connections=in_flight, **skew)


async def _one(parser, path: Path, schema, index: int):
    from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument

    document = SourceDocument(f"doc{index}", path.name, path.read_bytes(), "application/pdf", 1)
    parsed = await parser.parse(document, ParseOptions())
    await parser.extract(document, schema, parsed)


async def _client_run(url: str, rps: float, in_flight: int, paths: list[Path], concurrent: bool,
                      state_dir: str, skew_s: float | None = None) -> None:
    from upstage_assets.schemas.extraction import load_schema

    resource = client_resource(url, rps, in_flight, skew_s).model_copy(update={"rate_limit_store": state_dir})
    parser = resource.create_parser()
    schema = load_schema("invoice")
    try:
        if concurrent:
            # As many documents at once as the platform's step takes (its default concurrency is the
            # client's max_in_flight): all N at once would spend their first step (a budget
            # reservation each) before the first send, 0.4 s at N=1,000.
            at_once = asyncio.Semaphore(in_flight)

            async def bounded(index: int, path: Path) -> None:
                async with at_once:
                    await _one(parser, path, schema, index)
            await asyncio.gather(*(bounded(i, p) for i, p in enumerate(paths)))
        else:
            for i, p in enumerate(paths):
                await _one(parser, p, schema, i)
    finally:
        await parser.aclose()


def _emulator_429s(url: str, reset: bool = False) -> int:
    """Rate-limit 429s the emulator answered since its last reset (then reset, if asked)."""
    count = int(emulator_stats(url)["rate_limited_429"]["rate_limit"])
    if reset:
        urllib.request.urlopen(urllib.request.Request(url + "/__emulator__/stats/reset", method="POST"), timeout=30)
    return count


def warm(url: str, paths: list[Path], work: Path) -> float:
    """Every answer computed once, outside the emulator's limits and stats, before any clock starts."""
    started = time.monotonic()
    asyncio.run(_client_run(url + WARM_PREFIX, UNLIMITED_RPS, 8, paths, True, str(work / "limits-warm")))
    _emulator_429s(url, reset=True)
    return time.monotonic() - started


def measure_client(name: str, url: str, rps: float, in_flight: int, paths: list[Path], concurrent: bool,
                   work: Path, skew_s: float | None = None) -> Measurement:
    state_dir = str(work / f"limits-{name}")
    _emulator_429s(url, reset=True)
    time.sleep(1.1)  # the previous phase's requests leave the emulator's one-second window
    with TreeRssSampler(os.getpid()) as rss, CpuByRole() as cpu:
        started = time.monotonic()
        asyncio.run(_client_run(url, rps, in_flight, paths, concurrent, state_dir, skew_s))
        seconds = time.monotonic() - started
    return Measurement(name, len(paths), seconds, rss.peak, rate_limited=_emulator_429s(url, reset=True),
                       cpu=cpu.use)


def in_flight_for(rps: float, latency_s: float) -> int:
    """Requests in flight that keep both endpoints at ``rps`` with answers ``latency_s`` late, with margin."""
    return max(16, math.ceil(2 * rps * (latency_s + 0.1) * 1.5))


def write_results(measurements: list[Measurement], ideal: Measurement, line: str, args: argparse.Namespace,
                  context: str) -> str:
    limit = args.rps
    rows = ["| mode | documents | wall s | docs/s | fraction of limit | s/doc | ratio to ideal (per doc) | "
            "429s | docs/s per run worker (step time) | peak RSS | note |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in measurements:
        worker = f"{m.worker_docs_per_s:.1f}" if m.worker_docs_per_s else ""
        rows.append(f"| {m.name} | {m.documents} | {m.seconds:.1f} | {m.docs_per_s:.2f} | "
                    f"{m.docs_per_s / limit:.3f} | {m.per_document:.3f} | {m.per_document / ideal.per_document:.2f} | "
                    f"{m.rate_limited} | {worker} | {mib(m.peak_rss)} | {m.note} |")
    header = (f"# Throughput: emulator {args.latency_s * 1000:.0f} ms/request, {args.rps:g} req/s per endpoint "
              f"(limit {limit:g} documents/s), N={ideal.documents}\n\n{context}\n\n")
    table = header + "\n".join(rows) + f"\n\n{cpu_section(measurements, limit)}\n\n{line}\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = args.results_name or f"throughput_rps{args.rps:g}_n{ideal.documents}"
    (RESULTS / f"{stem}.md").write_text(table)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([m.name for m in measurements], [m.docs_per_s / limit for m in measurements],
           color=["#55a868", "#8c8c8c", "#4c72b0", "#c44e52", "#8172b2", "#937860", "#da8bc3"][: len(measurements)])
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_yscale("log")
    ax.set_ylabel("documents/s / rate limit")
    ax.set_title(f"Throughput at {args.rps:g} req/s per endpoint")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{stem}.png", dpi=100)
    plt.close(fig)
    return table


def cpu_section(measurements: list[Measurement], limit: float) -> str:
    """Where each phase's CPU went, and the bound it sets: documents/s at this phase's CPU per
    document if the host's cores served only the client or platform (the emulator elsewhere)."""
    lines = ["CPU by role (ms of CPU per document; host busy = mean busy cores over the phase):", ""]
    for m in measurements:
        if m.cpu is not None and m.documents:
            bound = m.cpu.docs_per_s_alone(m.documents)
            lines.append(f"- {m.name}: {m.cpu_summary()} ({bound / limit:.3f} of the limit)")
    return "\n".join(lines)


def measure_ceilings(paths: list[Path], work: Path, args: argparse.Namespace) -> list[Measurement]:
    """The platform with an emulator at zero latency and no limits, on SQLite and (``--postgres``) on
    PostgreSQL: what the orchestrator itself allows, per run worker.

    The runs go one at a time (``CEILING_RUNS_AT_ONCE``): three run workers at once on two cores measure
    each one's share of the cores, not what one worker can do; the platform's phases keep
    ``--runs-at-once``."""
    emulator, url = start_emulator("--benchmark-mode", "true")
    # Every endpoint the pipeline calls is unlimited, the classification each document gets (the default
    # ``document_types: check``) too: until stop 39 it kept the emulator preset's 20/s, shared by the run
    # workers, and that (not the orchestrator) was the "ceiling" of about 10 docs/s per worker, two at once.
    client = {**{name: UNLIMITED_RPS for name in CLIENT_RPS_FIELDS}, "parse_pages_per_minute": 1e9,
              "async_pages_per_minute": 1e9, "max_in_flight": 64, "max_connections": 64}
    try:
        warm(url, paths, work)
        folder = work / "ceiling"
        found = [measure_platform("ceiling, SQLite", platform_env(folder, url, client, args.documents_per_run),
                                  paths, folder, args.timeout_s, CEILING_RUNS_AT_ONCE)]
        if args.postgres:
            with postgres_database() as database:
                folder = work / "ceiling-pg"
                found.append(measure_platform(
                    "ceiling, PostgreSQL", platform_env(folder, url, client, args.documents_per_run), paths, folder,
                    args.timeout_s, CEILING_RUNS_AT_ONCE, postgres_url=database))
        return found
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


EMULATOR_PRIORITY = -10  # a nice increment: the API's stand-in answers on time while the platform fills the cores


def _limited_emulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    """The emulator in benchmark mode at ``--latency-s``, both endpoints limited to ``--rps``.

    It runs ahead of the platform's processes (``EMULATOR_PRIORITY``): the real API does not share the
    platform's cores, and a starved emulator reads requests late and counts them bunched. With the cores
    full (N=10,000 at 40 req/s) one run drew 840 429s at normal priority and 418 at nice -10; the rest
    left the clients bunched (``bench/results/throughput.md``, stop 41).
    ``UPSTAGE_BENCH_EMULATOR_PRIORITY=0`` turns it off."""
    priority = int(os.environ.get("UPSTAGE_BENCH_EMULATOR_PRIORITY", EMULATOR_PRIORITY))
    return start_emulator("--benchmark-mode", "true", "--latency-s", str(args.latency_s), "--rps-limits",
                          f"document-parse={args.rps:g},information-extraction={args.rps:g}", priority=priority)


@contextlib.contextmanager
def _limited_run(n: int, args: argparse.Namespace, prefix: str) -> Iterator[tuple[str, list[Path], Path]]:
    """The limited emulator, ``n`` documents warmed against it and a work folder; all gone afterwards."""
    emulator, url = _limited_emulator(args)
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        paths = make_documents(n, work / "documents")
        warm(url, paths, work)
        yield url, paths, work
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def _client_limits(args: argparse.Namespace, in_flight: int) -> dict[str, float]:
    """The platform's client settings: the endpoints' limits, ``in_flight`` requests and connections.

    Each document is also classified (``document_types: check``), a model Upstage limits apart; the
    emulator does not limit it, and the client gives it the same rate, so the limit measured is the
    two the issue names (parse and extraction), not the emulator preset's 20/s for classification."""
    return {"parse_requests_per_second": args.rps, "extract_requests_per_second": args.rps,
            "classify_requests_per_second": args.rps,
            "parse_pages_per_minute": 1e9, "max_in_flight": in_flight, "max_connections": in_flight}


def _ideal_only(n: int, in_flight: int, args: argparse.Namespace) -> int:
    with _limited_run(n, args, "throughput-ideal-") as (url, paths, work):
        ideal = measure_client("ideal", url, args.rps, in_flight, paths, concurrent=True, work=work,
                               skew_s=args.compare_skew_s)
        print(f"ideal={ideal.docs_per_s / args.rps:.3f} 429s={ideal.rate_limited} documents={n} rps={args.rps:g} "
              f"skew_s={args.compare_skew_s if args.compare_skew_s is not None else 'default'} seconds={ideal.seconds:.1f} load={os.getloadavg()[0]:.1f}; "
              f"{ideal.cpu_summary()}", flush=True)
    return 0


@contextlib.contextmanager
def _instance_database(args: argparse.Namespace) -> Iterator[str | None]:
    """The platform's Dagster instance database: PostgreSQL with ``--postgres`` (as deployments have it),
    else the local SQLite instance."""
    if not args.postgres:
        yield None
        return
    with postgres_database() as database:
        yield database


def _platform_only(n: int, in_flight: int, args: argparse.Namespace) -> int:
    """The platform alone against the limited emulator: one point of the documents-per-run / runs-at-once curve."""
    with _limited_run(n, args, "throughput-platform-") as (url, paths, work):
        env = platform_env(work / "platform", url, _client_limits(args, in_flight), args.documents_per_run)
        with _instance_database(args) as database:
            platform = measure_platform("platform", env, paths, work / "platform", args.timeout_s, args.runs_at_once,
                                        postgres_url=database, dequeue_interval_s=args.dequeue_interval_s,
                                        limit_rps=args.rps)
        print(f"platform={platform.docs_per_s / args.rps:.3f} 429s={_emulator_429s(url, reset=True)} documents={n} "
              f"rps={args.rps:g} documents_per_run={args.documents_per_run} runs_at_once={args.runs_at_once} "
              f"dequeue_interval_s={args.dequeue_interval_s or 1} "
              f"seconds={platform.seconds:.1f} per_worker_docs_per_s={platform.worker_docs_per_s or 0:.2f} "
              f"load={os.getloadavg()[0]:.1f}; {platform.note}; {platform.cpu_summary()}", flush=True)
    return 0


def _ceilings_only(n: int, args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="throughput-ceiling-"))
    for ceiling in measure_ceilings(make_documents(n, work / "documents"), work, args):
        print(f"{ceiling.name}: {ceiling.worker_docs_per_s or 0:.2f} docs/s per run worker, "
              f"{ceiling.docs_per_s:.2f} docs/s wall, {n} documents, tree {ROOT.name}, "
              f"load {os.getloadavg()[0]:.1f}; {ceiling.note}; {ceiling.cpu_summary()}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="50 documents, small samples")
    parser.add_argument("--latency-s", type=float, default=0.3)
    parser.add_argument("--rps", type=float, default=20.0)
    parser.add_argument("--documents-per-run", type=int, default=250)
    parser.add_argument("--runs-at-once", type=int, default=4,
                        help="runs of the backfill at once (the platform; the ceiling runs one at a time)")
    parser.add_argument("--in-flight", type=int, default=None, help="client max_in_flight (default from rps)")
    parser.add_argument("--sequential-sample", type=int, default=None)
    parser.add_argument("--per-doc-sample", type=int, default=None)
    parser.add_argument("--ceiling-sample", type=int, default=None)
    parser.add_argument("--postgres", action="store_true",
                        help="the platform's instance in PostgreSQL (as deployments have it), and the ceiling on it "
                             "too (the line then reports that one)")
    parser.add_argument("--compare-skew-s", type=float, default=None,
                        help="also run the bare client with this rate_limit_max_skew_s, on a sample")
    parser.add_argument("--ideal-only", action="store_true",
                        help="only the bare client against the limit (its send-guard window: the client's default, "
                             "or --compare-skew-s when given)")
    parser.add_argument("--platform-only", action="store_true",
                        help="only the platform against the limit (a point of the --documents-per-run / "
                             "--runs-at-once curve)")
    parser.add_argument("--dequeue-interval-s", type=int, default=None,
                        help="--platform-only: the run queue's dequeue interval (default: the instance's, 1 s)")
    parser.add_argument("--ceiling-only", action="store_true",
                        help="only the overhead ceilings (an A/B of two trees: run it from each)")
    parser.add_argument("--results-name", default=None, help="file stem under bench/results/")
    parser.add_argument("--timeout-s", type=float, default=1800)
    args = parser.parse_args(argv)
    if args.compare_skew_s is None and not args.ideal_only:
        args.compare_skew_s = 0.1  # the full run's comparison sample: the guard as it was before
    n = 50 if args.quick and args.documents == 1000 else args.documents
    sequential_n = args.sequential_sample or (10 if args.quick else 60)
    per_doc_n = args.per_doc_sample or (2 if args.quick else 5)
    ceiling_n = min(n, args.ceiling_sample or (50 if args.quick else 200))
    in_flight = args.in_flight or in_flight_for(args.rps, args.latency_s)
    ideal_sample = min(n, max(10, n // 2))
    if args.ceiling_only:
        return _ceilings_only(ceiling_n, args)
    if args.ideal_only:
        return _ideal_only(n, in_flight, args)
    if args.platform_only:
        return _platform_only(n, in_flight, args)

    emulator, url = _limited_emulator(args)
    work = Path(tempfile.mkdtemp(prefix="throughput-"))
    load_before = os.getloadavg()
    try:
        paths = make_documents(n, work / "documents")
        per_doc_paths = make_documents(per_doc_n, work / "per-doc-documents")
        warm_s = warm(url, paths + per_doc_paths, work)
        print(f"warm-up: {warm_s:.1f}s for {n + per_doc_n} documents (before any clock)", flush=True)
        ideal = measure_client("ideal", url, args.rps, in_flight, paths, concurrent=True, work=work)
        print(f"ideal: {ideal.seconds:.1f}s for {n}, {ideal.rate_limited} 429s; {ideal.cpu_summary()}", flush=True)
        old_guard = measure_client(f"ideal, skew {args.compare_skew_s:g} s", url, args.rps, in_flight,
                                   paths[:ideal_sample], concurrent=True, work=work, skew_s=args.compare_skew_s)
        old_guard.note = "the limiter's send guard as before (sample)"
        print(f"ideal with skew {args.compare_skew_s:g}: {old_guard.docs_per_s / args.rps:.3f} of the limit", flush=True)
        client = _client_limits(args, in_flight)
        env = platform_env(work / "platform", url, client, args.documents_per_run)
        with _instance_database(args) as database:
            platform = measure_platform("platform", env, paths, work / "platform", args.timeout_s, args.runs_at_once,
                                        postgres_url=database, limit_rps=args.rps)
        platform.rate_limited = _emulator_429s(url, reset=True)
        print(f"platform: {platform.seconds:.1f}s for {n} ({platform.note}), {platform.rate_limited} 429s; "
              f"{platform.cpu_summary()}", flush=True)
        sequential = measure_client("sequential", url, args.rps, in_flight, paths[:sequential_n],
                                    concurrent=False, work=work)
        sequential.note = f"sample of {sequential_n}"
        print(f"sequential: {sequential.per_document:.3f}s/doc", flush=True)
        per_doc = measure_run_per_document(platform_env(work / "per-doc", url, client, args.documents_per_run),
                                           per_doc_paths, work / "per-doc")
        per_doc.rate_limited = _emulator_429s(url, reset=True)
        print(f"run-per-document: {per_doc.per_document:.2f}s/doc", flush=True)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    ceilings = measure_ceilings(paths[:ceiling_n], work, args)
    for ceiling in ceilings:
        ceiling.note = f"sample of {ceiling_n}, {ceiling.note}; no latency, no limits"
        print(f"{ceiling.name}: {ceiling.worker_docs_per_s or 0:.1f} docs/s per run worker ({ceiling.note}); "
              f"{ceiling.cpu_summary()}", flush=True)
    ceiling = ceilings[-1]  # PostgreSQL's where measured: the deployments' instance
    load_after = os.getloadavg()
    context = (f"Machine: {os.cpu_count()} CPUs; load average (1/5/15 min) before "
               f"{'/'.join(f'{x:.1f}' for x in load_before)}, after {'/'.join(f'{x:.1f}' for x in load_after)}. "
               f"Client max_in_flight {in_flight}; {args.documents_per_run} documents per run. "
               f"Warm-up (engine work, before the clocks): {warm_s:.0f} s. "
               f"Command: python bench/throughput.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    limit = args.rps
    line = (f"limit_docs_per_s={limit:g} ideal={ideal.docs_per_s / limit:.3f} "
            f"platform={platform.docs_per_s / limit:.3f} "
            f"platform/ideal={platform.per_document / ideal.per_document:.2f} "
            f"per-doc/platform={per_doc.per_document / platform.per_document:.2f} "
            f"overhead_ceiling_docs_per_s={ceiling.worker_docs_per_s or 0:.1f}")
    print(write_results([ideal, old_guard, platform, sequential, per_doc, *ceilings], ideal, line, args, context))
    shutil.rmtree(work, ignore_errors=True)
    print(line)
    return 0 if platform.note.startswith(tuple("0123456789")) else 1


if __name__ == "__main__":
    sys.exit(main())
