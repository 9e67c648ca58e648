"""`make demo`: generate sample documents, drop them in the inbox, process them with Dagster.

The documents go through the real thing: the inbox sensor registers them as partitions
and requests batched runs, and each run executes the ``process_documents`` job on a
persistent instance (``data/dagster_home``), so `dagster dev` shows the same runs after.
Ends with a summary and a comparison against the samples' known field values.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path


def _compare_with_truth(tables: dict, truth: dict, records_by_uri: dict) -> tuple[int, int]:
    """Count documents whose every printed truth field matches the Parquet row (normalised)."""
    from upstage_assets.operations.evaluation import values_match

    matched = total = 0
    for filename, expected in truth.items():
        document_id = records_by_uri.get(filename)
        table = tables.get(expected["schema"])
        if document_id is None or table is None:
            total += 1
            continue
        rows = [r for r in table.to_pylist() if r["document_id"] == document_id]
        total += 1
        printed = expected.get("printed") or list(expected["fields"])
        if rows and all(values_match(rows[0].get(k), expected["fields"][k]) for k in printed):
            matched += 1
    return matched, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data", help="root for inbox, outputs and the Dagster home")
    parser.add_argument("--backend", default=os.environ.get("UPSTAGE_ASSETS_BACKEND", "local"),
                        choices=["local", "emulator"], help="local engine in-process, or the client against "
                                                            "an emulator started for the demo")
    parser.add_argument("--prepare-only", action="store_true", help="only put the samples in the inbox")
    args = parser.parse_args(argv)

    data = Path(args.data).resolve()
    inbox, outputs = data / "inbox", data / "outputs"
    os.environ.update({"UPSTAGE_ASSETS_DATA": str(data), "UPSTAGE_ASSETS_INBOX": str(inbox),
                       "UPSTAGE_ASSETS_OUTPUT": str(outputs), "UPSTAGE_ASSETS_BACKEND": args.backend})
    from upstage_assets.samples import generate_samples

    samples_dir = data / "samples"
    if samples_dir.exists():
        shutil.rmtree(samples_dir)
    samples = generate_samples(samples_dir)
    truth = json.loads((samples_dir / "truth.json").read_text())
    for sample in samples:
        target = inbox / sample.schema / sample.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample.path, target)
    print(f"put {len(samples)} sample documents in {inbox}")
    if args.prepare_only:
        return 0

    emulator = None
    if args.backend == "emulator":
        from upstage_assets.emulator.server import run_emulator_in_thread
        from upstage_assets.emulator.settings import EmulatorSettings

        emulator = run_emulator_in_thread(EmulatorSettings())
        os.environ["UPSTAGE_API_BASE_URL"] = emulator.url
        os.environ.setdefault("UPSTAGE_API_KEY", "demo-key-for-the-local-emulator")
        print(f"emulator listening on {emulator.url}")
    try:
        from upstage_assets.operations.runner import process_inbox_once

        started = time.monotonic()
        report = process_inbox_once(data / "dagster_home")
        elapsed = time.monotonic() - started
    finally:
        if emulator is not None:
            emulator.stop()

    from upstage_assets.operations.reporting import read_tables

    tables = read_tables(outputs)
    records_by_name = {r.filename: r.document_id for r in report.records}
    matched, total = _compare_with_truth(tables, truth, records_by_name)
    print()
    print("== upstage-assets demo ==")
    for line in report.summary_lines():
        print(line)
    print(f"rows matching the samples' truth: {matched}/{total}")
    print(f"time: {elapsed:.1f}s")
    for name in sorted(tables):
        print(f"Delta table '{name}': {outputs / 'tables' / name}/  ({tables[name].num_rows} rows)")
    print('query them: upstage-assets query "SELECT * FROM invoice"   (DuckDB; see the README for Polars, pandas)')
    print("explore the runs: make dev   (dagster dev on http://127.0.0.1:3000)")
    return 0 if report.failed == 0 and matched == total else 1


if __name__ == "__main__":
    sys.exit(main())
