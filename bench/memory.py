"""Peak RSS of the run worker as the number of documents in one run grows.

    python bench/memory.py [--sizes 1000,10000] [--quick]

For each N: N distinct one-page documents are registered as partitions and ONE run over
all of them executes in a fresh worker process against an emulator with zero latency;
the worker's peak RSS is sampled. Flat, not linear, is the target (< 1 GiB at N=10,000).
Prints a Markdown table with the RSS of each size relative to the smallest, written to
bench/results/memory.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import PY, RESULTS, ROOT, TreeRssSampler, make_documents, mib, start_emulator, table_rows  # noqa: E402

WORKER = """
import os, sys
from upstage_assets.settings import Settings
from upstage_assets.definitions import build_definitions
from upstage_assets.operations.local_instance import local_instance
instance = local_instance(os.environ["DAGSTER_HOME"])
keys = instance.get_dynamic_partitions("documents")
job = build_definitions(Settings.from_env(backend="emulator")).resolve_job_def("process_documents")
result = job.execute_in_process(instance=instance, raise_on_error=False,
    tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}},
                "ops": {"document_pipeline": {"config": {"max_concurrent_documents": 16}}}})
sys.exit(0 if result.success else 1)
"""


def measure(n: int, url: str, work: Path) -> tuple[int, float, int]:
    env = {**os.environ, "DAGSTER_HOME": str(work / "dagster_home"), "UPSTAGE_ASSETS_BACKEND": "emulator",
           "UPSTAGE_API_BASE_URL": url, "UPSTAGE_API_KEY": "bench-key", "UPSTAGE_ASSETS_INBOX": str(work / "inbox"),
           "UPSTAGE_ASSETS_OUTPUT": str(work / "outputs"), "UPSTAGE_ASSETS_INBOX_SENSOR": "stopped"}
    make_documents(n, work / "inbox")
    subprocess.run([PY, "-c", (
        "import os\n"
        "from upstage_assets.definitions import build_definitions\n"
        "from upstage_assets.settings import Settings\n"
        "from upstage_assets.ingest.folder import scan_inbox\n"
        "from upstage_assets.operations.local_instance import local_instance\n"
        "defs = build_definitions(Settings.from_env(backend='emulator')); s = defs.resources['storage']\n"
        "r = scan_inbox(s.inbox_store(), s.output_store(), s.registry(), default_schema='invoice', max_documents=10**9)\n"
        "local_instance(os.environ['DAGSTER_HOME']).add_dynamic_partitions('documents', r.new_ids)\n")],
        env=env, cwd=ROOT, check=True)
    proc = subprocess.Popen([PY, "-c", WORKER], env=env, cwd=ROOT)
    started = time.monotonic()
    with TreeRssSampler(proc.pid) as rss:
        code = proc.wait()
    rows = table_rows(work / "outputs")
    if code != 0 or rows != n:
        print(f"warning: N={n}: worker exit {code}, {rows} rows", file=sys.stderr)
    return rss.peak, time.monotonic() - started, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--quick", action="store_true", help="sizes 50,200")
    args = parser.parse_args(argv)
    sizes = [50, 200] if args.quick else [int(s) for s in args.sizes.split(",")]
    emulator, url = start_emulator("--latency-s", "0")
    results = []
    try:
        for n in sizes:
            work = Path(tempfile.mkdtemp(prefix=f"memory-{n}-"))
            peak, seconds, rows = measure(n, url, work)
            results.append((n, peak, seconds, rows))
            print(f"N={n}: peak RSS {mib(peak)}, {seconds:.0f}s, {rows} rows", flush=True)
            shutil.rmtree(work, ignore_errors=True)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    base = results[0][1]
    lines = ["| documents in one run | worker peak RSS | ratio to smallest | seconds | rows |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {mib(p)} | {p / base:.2f} | {s:.0f} | {r} |" for n, p, s, r in results]
    table = "# Run-worker memory (emulator, zero latency)\n\n" + "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory.md").write_text(table)
    print(table)
    print(f"largest/smallest RSS ratio={results[-1][1] / base:.2f} at N={results[-1][0]} vs N={results[0][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
