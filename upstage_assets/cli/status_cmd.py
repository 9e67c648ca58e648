"""`upstage-assets status`: how far the documents have got, what failed and why, what it cost."""

from __future__ import annotations

import argparse
from typing import Any

from upstage_assets.cli.common import (
    EXIT_DOCUMENTS_FAILED,
    EXIT_OK,
    load_definitions,
    open_instance,
    print_json,
    storage_of,
)

HELP = "documents, progress per asset, failures with reasons, pages and cost so far"
DESCRIPTION = """\
Read the instance in $DAGSTER_HOME and the result store and print where things stand:
registered documents, how many are done at each stage, the failed ones with their reasons,
pages, billed pages and estimated cost, and runs in flight. Documents that no run finished and
none recorded a failure for ("unfinished": a crashed or canceled run) are listed too.
Documents held back by the spend limit are "pending", not failed. Exit code 1 when any
document is currently failed, unfinished or pending (so a script can gate on it),
0 otherwise, 2 on configuration errors."""
MAX_FAILURES_SHOWN = 20
COMPACT_HELP = ("fold the registry, page-count, bill and failure files changed since last time into the summaries "
                "status reads (the compact_summaries schedule does this every 15 minutes)")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("status", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument("--all-failures", action="store_true", help="list every failure, not the first 20")
    parser.set_defaults(handler=run)
    compact = subparsers.add_parser("compact-summaries", help=COMPACT_HELP, description=COMPACT_HELP)
    compact.add_argument("--rescan", action="store_true", help="read every file, not only the changed ones "
                                                              "(after files were changed by hand)")
    compact.add_argument("--json", action="store_true", help="print what was folded as JSON")
    compact.set_defaults(handler=run_compact)


def _runs_in_flight(instance: Any) -> dict[str, int]:
    from dagster import DagsterRunStatus, RunsFilter

    counts = {}
    for status in (DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED):
        counts[status.value.lower()] = instance.get_runs_count(RunsFilter(statuses=[status]))
    return counts


def _running_progress(instance: Any) -> list[dict[str, Any]]:
    """Progress tags of running runs (done/total, failed, pages, cost, docs/s, ETA)."""
    from dagster import DagsterRunStatus, RunsFilter

    from upstage_assets.defs.pipeline.progress import read_progress

    runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]), limit=20)
    return [{"run_id": run.run_id, **read_progress(run.tags)} for run in runs]


def _backfills_in_flight(instance: Any) -> int:
    from upstage_assets.dagster_compat import BulkActionStatus

    return len(instance.get_backfills(status=BulkActionStatus.REQUESTED))


def collect_status(defs: Any, instance: Any) -> dict[str, Any]:
    """Counts from the summaries (``storage/summaries.py``, the failures' in ``storage/failures.py``),
    the Delta logs, and the event log's database (done per asset and the unvalidated partitions are
    counted there, not shipped as every key: ``backlog.stage_done_counts``; Dagster's asset status
    cache costs more for dynamic partitions: docs/scale.md)."""
    from concurrent.futures import ThreadPoolExecutor

    from upstage_assets.errors import BudgetExceeded
    from upstage_assets.operations.backlog import (
        failure_rows,
        partition_order,
        stage_done_counts,
        unfinished_documents,
        unvalidated_partitions,
    )
    from upstage_assets.storage.billing import read_usage_totals
    from upstage_assets.storage.failures import failed_ids_of
    from upstage_assets.storage.summaries import PAGES, read_summary
    from upstage_assets.storage.tables import row_counts

    storage = storage_of(defs)
    store, layout = storage.output_store(), storage.layout
    with ThreadPoolExecutor(4) as pool:  # the database and the store answer side by side
        order_asked, done_asked = pool.submit(partition_order, instance), pool.submit(stage_done_counts, instance)
        unvalidated_asked = pool.submit(unvalidated_partitions, instance)
        recorded_asked = pool.submit(failure_rows, storage, instance)
        order, done, unvalidated = order_asked.result(), done_asked.result(), unvalidated_asked.result()
        recorded = sorted(recorded_asked.result(), key=lambda f: str(f["failed_at"]), reverse=True)
    pending = [f for f in recorded if f["error_code"] == BudgetExceeded.code]  # held back, not failed
    failures = [f for f in recorded if f["error_code"] != BudgetExceeded.code]
    pages = read_summary(store, layout, PAGES).totals.get("pages", {}).get("pages", 0)
    usage = read_usage_totals(store, layout)
    parser = defs.resources.get("parser")
    prices = parser.product_prices() if hasattr(parser, "product_prices") else {}
    unfinished = unfinished_documents(instance, storage, order=order, failed=failed_ids_of(recorded),
                                      unvalidated=unvalidated)
    return {
        "documents": storage.registry().count(), "partitions": len(order), "done": done,
        "rows": row_counts(store, layout.tables), "quarantined": row_counts(store, layout.quarantine),
        "failed": len(failures),
        "failures": [{k: f[k] for k in ("document_id", "stage", "error_code", "message", "retryable", "run_id",
                                        "failed_at")} for f in failures],
        "unfinished": len(unfinished), "unfinished_documents": unfinished,
        "pending_budget": len(pending), "pending_budget_documents": sorted(f["document_id"] for f in pending),
        "pages": pages, "pages_billed": usage.pages_billed, "cost_usd": usage.as_dict()["cost_usd"],
        "possibly_billed_twice": usage.possibly_billed_twice, "price_per_page_usd": prices,
        "estimated_cost_usd": usage.total_cost_usd,
        "runs_in_flight": _runs_in_flight(instance), "running": _running_progress(instance),
        "backfills_in_flight": _backfills_in_flight(instance),
    }


def _print_text(status: dict[str, Any], show_all: bool) -> None:
    print(f"documents: {status['documents']} registered, {status['partitions']} partitions")
    for asset, count in status["done"].items():
        print(f"  {asset:<20} {count} done")
    rows = ", ".join(f"{k}: {v}" for k, v in status["rows"].items()) or "none"
    quarantined = ", ".join(f"{k}: {v}" for k, v in status["quarantined"].items()) or "none"
    print(f"rows: {rows}; quarantined: {quarantined}")
    billed, cost = status["pages_billed"], status["cost_usd"]
    products = ", ".join(f"{p} {billed[p]} pages ${cost[p]:.2f}" for p in billed)
    print(f"pages: {status['pages']}; billed: {products}; estimated cost so far: ${status['estimated_cost_usd']:.2f}")
    twice = sum(status["possibly_billed_twice"].values())
    if twice:
        print(f"  possibly billed twice (an answer was lost and the request sent again): {twice} pages")
    flight = status["runs_in_flight"]
    print(f"runs: {flight['queued']} queued, {flight['starting'] + flight['started']} running; "
          f"backfills in progress: {status['backfills_in_flight']}")
    for run in status["running"]:
        if "done" in run:
            print(f"  run {run['run_id'][:8]}: {run['done']} documents done, {run.get('failed', '0')} failed, "
                  f"{run.get('docs_per_s', '?')} docs/s, ETA {run.get('eta_s', '?')}s")
    print(f"failed: {status['failed']}")
    shown = status["failures"] if show_all else status["failures"][:MAX_FAILURES_SHOWN]
    for f in shown:
        retry = "retryable" if f["retryable"] else "permanent"
        print(f"  {f['document_id']} at {f['stage']}: [{f['error_code']}, {retry}] {f['message']}")
    if len(shown) < status["failed"]:
        print(f"  ... {status['failed'] - len(shown)} more (--all-failures)")
    unfinished = status["unfinished_documents"]
    print(f"unfinished: {status['unfinished']} (no result and no recorded failure, and no run or backfill "
          "is processing them)")
    for document_id in (unfinished if show_all else unfinished[:MAX_FAILURES_SHOWN]):
        print(f"  {document_id}")
    if not show_all and len(unfinished) > MAX_FAILURES_SHOWN:
        print(f"  ... {len(unfinished) - MAX_FAILURES_SHOWN} more (--all-failures)")
    from upstage_assets.storage.failures import SOURCE_STAGES

    if status["pending_budget"]:
        print(f"pending: {status['pending_budget']} (not sent: the spend limit was reached; raise it, then "
              "retry-failed)")
    # Sources refused at registration are fixed by replacing the file, not by a re-run.
    retryable = sum(1 for f in status["failures"] if f["retryable"] and f["stage"] not in SOURCE_STAGES)
    permanent = sum(1 for f in status["failures"] if not f["retryable"] and f["stage"] not in SOURCE_STAGES)
    rerun = retryable + status["unfinished"] + status["pending_budget"]
    if rerun:
        print(f"re-run the {rerun} retryable, unfinished and pending ones with: upstage-assets retry-failed")
    if permanent:
        print(f"{permanent} failed permanently (the same bytes fail the same way): replace the files, or "
              "upstage-assets retry-failed --include-permanent after a fix in the platform")


def run(args: argparse.Namespace) -> int:
    status = collect_status(load_definitions(), open_instance())
    if args.json:
        print_json(status)
    else:
        _print_text(status, args.all_failures)
    return EXIT_DOCUMENTS_FAILED if status["failed"] or status["unfinished"] or status["pending_budget"] else EXIT_OK


def run_compact(args: argparse.Namespace) -> int:
    from upstage_assets.storage.folds import fold_summaries

    storage = storage_of(load_definitions())
    reports = fold_summaries(storage.output_store(), storage.layout, rescan=args.rescan)
    if args.json:
        print_json([vars(r) for r in reports])
    else:
        for r in reports:
            print(f"{r.kind}: {r.rows} files summarised, {r.files_read} read, {r.markers_deleted} change markers "
                  "removed")
    return EXIT_OK
