"""``bench/results/scale.md`` and ``scale.png`` from the rows ``bench/scale.py`` appended to ``scale.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = [
    ("tick_s", "sensor: 1,000 new (s, total)"), ("tick_own_s", "sensor: own time (s)"),
    ("tick_sqs_s", "sensor: moto SQS calls (s)"), ("tick_ticks", "ticks"),
    ("tick_cpu_s", "sensor: its own CPU (s)"), ("tick_moto_cpu_s", "sensor: moto's CPU, S3 and SQS (s)"), ("idle_tick_s", "idle tick (s)"),
    ("full_partition_load_s", "get_dynamic_partitions (s)"),
    ("summary_compact_s", "summary compaction, first (every file) (s)"), ("status_s", "status (s)"),
    ("status_json_s", "status --json (s)"), ("retry_dry_run_s", "retry-failed --dry-run (s)"),
    ("baseline_status_s", "status before the summaries (s)"),
    ("baseline_status_json_s", "status --json before the summaries (s)"),
    ("baseline_retry_dry_run_s", "retry-failed --dry-run before the summaries (s)"),
    ("plan_missing_s", "plan missing (s)"), ("plan_failed_s", "plan failed (s)"),
    ("ui_graph_s", "UI asset graph, first: builds the status caches (s)"),
    ("ui_graph_again_s", "UI asset graph, again (s)"), ("ui_partitions_s", "UI partitions page, first (s)"),
    ("ui_partitions_again_s", "UI partitions page, again (s)"), ("ui_runs_s", "UI runs page (s)"),
    ("ui_graph_after_new_s", "UI asset graph after one new partition (s)"),
    ("ui_partitions_after_new_s", "UI partitions page after one new partition (s)"),
    ("partition_add_s", "adding one partition (the storage keeps the status caches valid) (s)"),
    ("ui_browser_partitions_s", "browser: partitions page load, warm (s)"),
    ("ui_browser_partitions_after_new_s", "browser: partitions page load after one new partition (s)"),
    ("backfill_submit_s", "backfill of min(N, 10,000) partitions submitted (s)"), ("db_mib", "PostgreSQL size (MiB)"),
    ("store_kib_per_doc", "result store per document (KiB)"), ("rss_mib", "bench process RSS (MiB)"),
    ("worker_mib", "run worker, local engine: peak RSS of the worker + step + engine processes (MiB)"),
    ("worker_alone_mib", "local engine: the worker process alone (MiB)"), ("worker_steps_mib", "local engine: the processes under it (MiB)"),
    ("worker_pss_mib", "local engine: peak of the summed PSS (MiB)"), ("worker_documents", "documents in each measured run"),
    ("worker_s", "local engine: the run, launch to end (s)"),
    ("worker_api_mib", "run worker, Upstage API backend (emulator): peak RSS (MiB)"),
    ("worker_api_pss_mib", "Upstage API backend: peak of the summed PSS (MiB)"),
    ("build_s", "building the state (s)"),
]
CHARTED = ["tick_own_s", "baseline_status_s", "status_s", "retry_dry_run_s", "plan_missing_s", "ui_graph_s", "ui_partitions_s",
           "backfill_submit_s"]


def read_rows(path: Path) -> list[dict[str, str]]:
    """One row per N; a later (partial, e.g. ``--only-ui``) run fills or replaces the fields it measured."""
    merged: dict[int, dict[str, str]] = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            if row.get("status_s") and not row.get("summary_compact_s"):
                # measured before the summaries existed (no compaction timed): the old code's figures
                for name in ("status_s", "status_json_s", "retry_dry_run_s"):
                    row[f"baseline_{name}"], row[name] = row.get(name, ""), ""
            into = merged.setdefault(int(row["documents"]), {})
            into.update({k: v for k, v in row.items() if v not in (None, "")})
    return [merged[n] for n in sorted(merged)]


def write_report(csv_path: Path, md_path: Path, png_path: Path) -> None:
    rows = read_rows(csv_path)
    header = "| measure | " + " | ".join(f"N={int(r['documents']):,}" for r in rows) + " |"
    lines = ["# One deployment at N documents (PostgreSQL, 2 shared cores)", "",
             "Command: `.venv/bin/python bench/scale.py --documents N` (one run per N; state written in bulk by "
             "`bench/scale_state.py`), then `--report`. Figures are wall seconds on a machine shared with other "
             "work; compare columns, not single cells. The run-worker rows (`--only-worker`, `--worker-backend emulator`) "
             "are one real run of 100 new documents on that state. See docs/scale.md for what they mean.", "",
             header, "|---|" + "---:|" * len(rows)]
    for name, label in COLUMNS:
        lines.append(f"| {label} | " + " | ".join(r.get(name) or "-" for r in rows) + " |")
    md_path.write_text("\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    xs = [int(r["documents"]) for r in rows]
    for name in CHARTED:
        ys = [float(r[name]) if r.get(name) else float("nan") for r in rows]
        axis.plot(xs, ys, marker="o", label=dict(COLUMNS)[name])
    axis.axhline(5.0, color="grey", linestyle="--", linewidth=1, label="5 s target")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("documents (partitions)")
    axis.set_ylabel("seconds")
    axis.set_title("upstage-assets at N documents (PostgreSQL)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)
