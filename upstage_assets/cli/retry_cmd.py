"""`upstage-assets retry-failed`: run the documents in the failures table again."""

from __future__ import annotations

import argparse
from typing import Any

from upstage_assets.cli.common import (
    EXIT_DOCUMENTS_FAILED,
    EXIT_OK,
    CliError,
    info,
    load_definitions,
    open_instance,
    print_json,
    storage_of,
)
from upstage_assets.cli.launch import ensure_partitions, execute_chunks, ordered_partitions, submit_backfill

HELP = "re-run the documents that are currently failed"
DESCRIPTION = """\
Re-run every document in the failures table (or only those whose error may pass on a retry,
with --retryable-only). A Dagster run covers one contiguous partition range, so failed
documents are grouped into ranges of the partition order, at most --batch-size per run:
contiguous failures share runs, a scattered one gets its own. --max-gap N lets a run bridge
up to N healthy documents between failed ones (they are processed again: free on the local
engine, paid on the Upstage API) to need fewer runs. With --wait the runs execute here;
otherwise one backfill over the same documents is submitted for the daemon.
Exit codes: 0 nothing failed any more (or submitted), 1 some still fail, 2 usage error."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("retry-failed", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retryable-only", action="store_true",
                        help="skip documents whose error is permanent for these bytes (corrupt, encrypted, ...)")
    parser.add_argument("--batch-size", type=int, default=50, help="documents per run (default 50)")
    parser.add_argument("--max-gap", type=int, default=0,
                        help="healthy documents a run may include between failed ones (default 0)")
    parser.add_argument("--wait", action="store_true", help="execute the runs in this process and wait")
    parser.add_argument("--dry-run", action="store_true", help="print the planned runs, launch nothing")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's run logs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON on stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from upstage_assets.retry import chunk_partitions, failed_document_ids

    if args.batch_size < 1 or args.max_gap < 0:
        raise CliError("--batch-size must be at least 1 and --max-gap at least 0")
    defs = load_definitions()
    storage = storage_of(defs)
    store, layout = storage.output_store(), storage.layout
    failed = failed_document_ids(store, layout, retryable_only=args.retryable_only)
    registry = storage.registry()
    unknown = [d for d in failed if not registry.contains(d)]
    failed = [d for d in failed if d not in set(unknown)]
    instance = open_instance()
    ensure_partitions(instance, failed)
    chunks = chunk_partitions(ordered_partitions(instance), failed, max_per_run=args.batch_size,
                              max_gap=args.max_gap)
    outcome: dict[str, Any] = {
        "failed": len(failed), "not_registered": unknown,
        "runs_planned": [{"start": c.start, "end": c.end, "documents": len(c.keys), "failed_in_range": c.wanted}
                         for c in chunks],
        "runs": [], "backfill_id": None, "still_failed": [],
    }
    info(f"{len(failed)} failed documents in {len(chunks)} runs"
         + (f"; {len(unknown)} not in the registry (skipped)" if unknown else ""))
    code = EXIT_OK
    if chunks and not args.dry_run:
        if args.wait:
            report = execute_chunks(defs, instance, chunks, reason="retry failed", verbose=args.verbose,
                                    show_progress=not args.no_progress)
            still = set(failed_document_ids(store, layout)) & {k for c in chunks for k in c.keys}
            outcome["runs"] = [{"run_id": r, "success": ok} for r, ok in report.runs]
            outcome["still_failed"] = sorted(still)
            info(f"{len(failed) - len(still & set(failed))} recovered, {len(still)} still failing")
            code = EXIT_DOCUMENTS_FAILED if still else EXIT_OK
        else:
            keys = list(dict.fromkeys(k for c in chunks for k in c.keys))
            report = submit_backfill(defs, instance, keys, title="retry failed documents", reason="retry failed")
            outcome["backfill_id"] = report.backfill_id
            info(f"submitted backfill {report.backfill_id} over {len(keys)} documents")
    if args.json:
        print_json(outcome)
    return code
