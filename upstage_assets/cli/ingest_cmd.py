"""`upstage-assets ingest PATH|s3://bucket/prefix`: register documents and process them."""

from __future__ import annotations

import argparse
from pathlib import Path
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
    progress_bar,
    storage_of,
)
from upstage_assets.cli.launch import daemon_seen, execute_batches_here, run_problems, submit_backfill
from upstage_assets.storage.object_store import LocalObjectStore, ObjectInfo, ObjectStore, open_store

MAX_LISTED = 20
HELP = "register documents from a folder, a file or an S3 prefix and process them"
DESCRIPTION = """\
Register every supported document under PATH (a folder, one file, or s3://bucket/prefix) in
the registry, add one partition per new document (keyed by content hash: the same bytes twice
are one document) and process the documents that have no validated result yet.

A first folder named after a schema (invoice/, receipt/) picks the schema; --schema sets it
for the rest. With --wait the runs execute here, 50 documents a run (a run covers a range of
the partition order and skips the finished documents in it; a document resumes after the
stages it already has unless --force), and the command exits when they are done; without it
one backfill is submitted for dagster-daemon (or `dagster dev`) to run. Exit codes: 0 all processed (or submitted), 1 some documents failed, 2 usage error."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("ingest", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", metavar="PATH", help="a folder, a file, or s3://bucket/prefix")
    parser.add_argument("--schema", default=None,
                        help="extraction schema for documents not under a schema-named folder: a built-in "
                             "name (invoice, receipt) or a JSON schema file (default: $UPSTAGE_ASSETS_DEFAULT_SCHEMA "
                             "or invoice)")
    parser.add_argument("--wait", action="store_true", help="execute the runs in this process and wait for them")
    parser.add_argument("--batch-size", type=int, default=50, help="documents per run with --wait (default 50)")
    parser.add_argument("--force", action="store_true", help="process documents again even if already done")
    parser.add_argument("--include-permanent", action="store_true",
                        help="also re-run documents whose last failure is permanent for their bytes (encrypted, "
                             "empty, corrupt, unsupported); by default only a fixed file (new bytes) is processed")
    parser.add_argument("--register-only", action="store_true", help="register and add partitions, launch nothing")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's run logs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON on stdout")
    parser.set_defaults(handler=run)


def _source(path: str, storage: Any) -> tuple[ObjectStore, list[ObjectInfo] | None]:
    """The store to read from, and (for a single file) the one candidate."""
    if path.startswith("s3://"):
        if not path.removeprefix("s3://").split("/", 1)[0]:
            raise CliError(f"not an s3://bucket/prefix URI: {path}")
        return open_store(path.rstrip("/"), storage.s3.get_client), None
    local = Path(path).expanduser()
    if local.is_dir():
        return LocalObjectStore(local), None
    if local.is_file():
        store = LocalObjectStore(local.parent)
        stat = local.stat()
        return store, [ObjectInfo(local.name, stat.st_size, str(stat.st_mtime_ns))]
    raise CliError(f"no such file or folder: {path}")


def _candidates(source: ObjectStore, given: list[ObjectInfo] | None, skipped: list[tuple[str, str]]) -> list[ObjectInfo]:
    from upstage_assets.ingest.naming import skip_reason

    found = []
    try:
        listing = given if given is not None else list(source.list())
    except Exception as exc:  # an unreachable bucket, missing credentials
        raise CliError(f"cannot list {source.root_uri}: {type(exc).__name__}: {exc}") from exc
    for candidate in listing:
        reason = skip_reason(candidate.key)
        if reason:
            skipped.append((source.uri(candidate.key), reason))
        else:
            found.append(candidate)
    return found


def _resolve_schema(name: str | None) -> str:
    from upstage_assets.schemas.extraction import AUTO_SCHEMA, load_schema
    from upstage_assets.settings import Settings

    chosen = name or Settings.from_env().default_schema
    if chosen == AUTO_SCHEMA:  # routed by class at extraction time
        return chosen
    try:
        load_schema(chosen)
    except Exception as exc:
        raise CliError(f"--schema {chosen}: {exc}") from exc
    return chosen


def run(args: argparse.Namespace) -> int:
    from upstage_assets.definitions import build_definitions
    from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
    from upstage_assets.ingest.folder import IngestResult, register_objects
    from upstage_assets.ingest.naming import document_id_for_bytes
    from upstage_assets.operations.backlog import add_partitions, failed_documents, partition_order
    from upstage_assets.operations.recovery import plan_batches
    from upstage_assets.storage.failures import read_failures

    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1")
    settings = load_settings(launching=not args.register_only, sources=(args.path,))
    if args.wait and not args.register_only:
        check_api_reachable(settings)
    defs = build_definitions(settings)
    schema = _resolve_schema(args.schema)
    storage = storage_of(defs)
    source, given = _source(args.path, storage)
    skipped: list[tuple[str, str]] = []
    candidates = _candidates(source, given, skipped)
    registry = storage.registry()
    with progress_bar(len(candidates), "file", not args.no_progress, "registering") as bar:
        result = IngestResult()
        for candidate in candidates:
            one = register_objects(source, registry, [candidate], default_schema=schema)
            result.new_records += one.new_records
            result.duplicates += one.duplicates
            result.skipped += one.skipped
            bar.update(1)
    result.skipped += skipped
    duplicates = set(result.duplicates)
    duplicate_ids = [document_id_for_bytes(source.read_bytes(c.key)) for c in candidates
                     if source.uri(c.key) in duplicates]
    ids = list(dict.fromkeys([*result.new_ids, *duplicate_ids]))
    instance = open_instance()
    add_partitions(instance, ids)
    done = set() if args.force else set(instance.get_materialized_partitions(VALIDATED_DOCUMENTS))
    permanent = set() if args.force or args.include_permanent else set(failed_documents(storage, permanent_only=True))
    left_out = [i for i in ids if i in permanent and i not in done]
    todo = [i for i in ids if i not in done and i not in permanent]
    outcome: dict[str, Any] = {"registered": len(result.new_records), "already_registered": len(duplicate_ids),
                               "skipped": [{"uri": u, "reason": r} for u, r in result.skipped],
                               "to_process": len(todo), "permanent_left_out": left_out,
                               "runs": [], "backfill_id": None, "failed": []}
    info(f"registered {len(result.new_records)} new documents, {len(duplicate_ids)} already known, "
         f"{len(result.skipped)} skipped; {len(todo)} to process")
    for uri, reason in result.skipped[:MAX_LISTED]:
        info(f"  skipped {uri}: {reason}")
    if len(result.skipped) > MAX_LISTED:
        info(f"  ... {len(result.skipped) - MAX_LISTED} more skipped (--json lists them all)")
    if left_out:
        info(f"  {len(left_out)} already known documents failed permanently before (same bytes, same error): "
             "not processed again (--include-permanent)")
    code = EXIT_OK
    if todo and not args.register_only:
        if args.wait:
            batches = plan_batches(partition_order(instance), todo, args.batch_size)
            report = execute_batches_here(defs, instance, batches, reason="cli ingest", resume=not args.force,
                                          verbose=args.verbose, show_progress=not args.no_progress)
            failures = read_failures(storage.output_store(), storage.layout).to_pylist()
            failed = [f for f in failures if f["document_id"] in set(todo)]
            done_now = set(todo) & set(instance.get_materialized_partitions(VALIDATED_DOCUMENTS))
            failed_runs = [r for r, ok in report.runs if not ok]
            outcome["runs"] = [{"run_id": r, "success": ok} for r, ok in report.runs]
            outcome["done"] = len(done_now)
            outcome["failed"] = [{"document_id": f["document_id"], "stage": f["stage"], "error_code": f["error_code"],
                                  "message": f["message"]} for f in failed]
            outcome["seconds"] = round(report.seconds, 2)
            info(f"{len(report.runs)} runs ({len(failed_runs)} failed), {len(done_now)} of {len(todo)} documents "
                 f"done, {len(failed)} failed in {report.seconds:.1f}s")
            for f in failed:
                info(f"  failed {f['document_id']} at {f['stage']}: [{f['error_code']}] {f['message']}")
            outcome["run_problems"] = {}
            for run_id, _ in report.runs:
                problems = run_problems(instance, run_id)
                outcome["run_problems"][run_id] = problems
                state = "failed" if run_id in failed_runs else "succeeded"
                for problem in problems:
                    info(f"  run {run_id[:8]} {state}: {problem}")
                if run_id in failed_runs and not problems:
                    info(f"  run {run_id} failed: see `dagster` logs or the UI's run page")
            if failed or failed_runs or len(done_now) < len(todo):
                code = EXIT_DOCUMENTS_FAILED
        else:
            report = submit_backfill(defs, instance, todo, title=f"ingest {args.path}", reason="cli ingest")
            outcome["backfill_id"] = report.backfill_id
            info(f"submitted backfill {report.backfill_id} over {len(todo)} documents")
            if not daemon_seen(instance):
                info("note: no dagster-daemon heartbeat seen on this instance; start `dagster dev` or "
                     "`python -m upstage_assets.operations.daemon run` (dagster-daemon, acting on new backfills "
                     "at once) to execute the backfill, or use --wait")
    if args.json:
        print_json(outcome)
    return code
