"""`upstage-assets retry-failed`: run the documents in the failures table again."""

from __future__ import annotations

import argparse
from typing import Any

from upstage_assets.cli.common import (
    EXIT_DOCUMENTS_FAILED,
    EXIT_OK,
    CliError,
    check_api_reachable,
    info,
    load_settings,
    open_instance,
    print_json,
    storage_of,
)
from upstage_assets.cli.launch import execute_batches_here, submit_backfill

HELP = "re-run the documents that are currently failed or unfinished"
DESCRIPTION = """\
Re-run every document in the failures table whose error may pass on a retry (a permanent one:
encrypted, empty, corrupt, unsupported, fails the same way again; --include-permanent retries
those too, e.g. after a fix in the platform), and every unfinished one: a document whose run ended without its
result and without a recorded failure (a crashed, killed or canceled run). A Dagster run covers one contiguous partition range, so failed
documents are grouped into ranges of the partition order, at most --batch-size failed ones
per run; the healthy documents inside a range are skipped (not processed or paid again), and
a failed document resumes at the stage it failed in. --max-gap N starts a new run where more
than N healthy documents separate two failed ones (0: only gap-free runs, whose step fails on
document errors as usual; default: no limit beyond 4 x --batch-size partitions a run). With
--wait the runs execute here; otherwise one backfill over the failed documents is submitted
for the daemon.
Exit codes: 0 nothing failed any more (or submitted), 1 some still fail, 2 usage error."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("retry-failed", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retryable-only", action="store_true",
                        help="the default since permanent failures are left out (kept for scripts)")
    parser.add_argument("--include-permanent", action="store_true",
                        help="also retry documents whose error is permanent for these bytes (corrupt, encrypted, ...)")
    parser.add_argument("--batch-size", type=int, default=50, help="documents per run (default 50)")
    parser.add_argument("--max-gap", type=int, default=None,
                        help="most healthy documents a run's range may skip between two failed ones "
                             "(default: no limit; skipped documents are not processed again)")
    parser.add_argument("--wait", action="store_true", help="execute the runs in this process and wait")
    parser.add_argument("--dry-run", action="store_true", help="print the planned runs, launch nothing")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's run logs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON on stdout")
    parser.set_defaults(handler=run)


def _reasons(rows: list[dict[str, Any]], unfinished: list[str]) -> dict[str, str]:
    """Why each document is in the plan: its recorded failure (``rows``), or "unfinished"."""
    reasons = {d: "unfinished (no result and no recorded failure)" for d in unfinished}
    for f in rows:
        reasons[f["document_id"]] = f"{f['stage']}: [{f['error_code']}] {f['message']}"
    return reasons


def _print_plan(runs: list[dict[str, Any]]) -> None:
    """The planned runs on stdout: range, documents wanted, healthy ones skipped, and each document's reason."""
    if not runs:
        print("nothing to retry")
    for number, planned in enumerate(runs, start=1):
        print(f"run {number}: partitions {planned['start']}..{planned['end']}, {planned['documents']} documents "
              f"({planned['skipped_in_range']} healthy ones in the range skipped)")
        for document in planned["planned"]:
            print(f"  {document['document_id']}  {document['reason']}")


def run(args: argparse.Namespace) -> int:
    from upstage_assets.definitions import build_definitions
    from upstage_assets.operations.backlog import (
        add_partitions,
        failed_documents,
        failure_rows,
        partition_order,
        unfinished_documents,
    )
    from upstage_assets.operations.recovery import plan_batches
    from upstage_assets.storage.failures import failed_ids_of

    if args.batch_size < 1 or (args.max_gap is not None and args.max_gap < 0):
        raise CliError("--batch-size must be at least 1 and --max-gap at least 0")
    settings = load_settings(launching=not args.dry_run)
    if args.wait and not args.dry_run:
        check_api_reachable(settings)
    defs = build_definitions(settings)
    storage = storage_of(defs)
    instance = open_instance()
    rows = failure_rows(storage, instance)  # read once: every question below is asked of these rows
    order = partition_order(instance)
    failed = failed_ids_of(rows, retryable_only=not args.include_permanent)
    permanent = [] if args.include_permanent else failed_ids_of(rows, permanent_only=True)
    registered = storage.registry().registered_ids()
    unknown = [d for d in failed if d not in registered]
    failed = [d for d in failed if d not in set(unknown)]
    unfinished = [d for d in unfinished_documents(instance, storage, order=order, failed=failed_ids_of(rows))
                  if d not in set(failed)]
    wanted = failed + unfinished
    if add_partitions(instance, wanted, existing=order):
        order = partition_order(instance)
    batches = plan_batches(order, wanted, args.batch_size, max_gap=args.max_gap)
    reasons = _reasons(rows, unfinished)
    outcome: dict[str, Any] = {
        "failed": len(failed), "unfinished": len(unfinished), "not_registered": unknown,
        "permanent_left_out": len(permanent),
        "runs_planned": [{"start": b.start, "end": b.end, "documents": len(b.documents),
                          "failed_in_range": len(b.documents), "skipped_in_range": b.span - len(b.documents),
                          "planned": [{"document_id": d, "reason": reasons.get(d, "")} for d in b.documents]}
                         for b in batches],
        "runs": [], "backfill_id": None, "still_failed": [],
    }
    info(f"{len(failed)} failed and {len(unfinished)} unfinished documents in {len(batches)} runs"
         + (f"; {len(unknown)} not in the registry (skipped)" if unknown else "")
         + (f"; {len(permanent)} permanently failed left out (--include-permanent)" if permanent else ""))
    if args.dry_run and not args.json:
        _print_plan(outcome["runs_planned"])
    code = EXIT_OK
    if batches and not args.dry_run:
        if args.wait:
            report = execute_batches_here(defs, instance, batches, reason="retry failed", resume=True,
                                          verbose=args.verbose, show_progress=not args.no_progress)
            planned = {d for b in batches for d in b.documents}
            still = (set(failed_documents(storage, instance=instance))
                     | set(unfinished_documents(instance, storage))) & planned
            outcome["runs"] = [{"run_id": r, "success": ok} for r, ok in report.runs]
            outcome["still_failed"] = sorted(still)
            info(f"{len(wanted) - len(still)} recovered, {len(still)} still failing")
            code = EXIT_DOCUMENTS_FAILED if still else EXIT_OK
        else:
            keys = list(dict.fromkeys(d for b in batches for d in b.documents))
            report = submit_backfill(defs, instance, keys, title="retry failed documents", reason="retry failed")
            outcome["backfill_id"] = report.backfill_id
            info(f"submitted backfill {report.backfill_id} over {len(keys)} documents")
    if args.json:
        print_json(outcome)
    return code
