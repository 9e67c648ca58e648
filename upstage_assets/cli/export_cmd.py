"""`upstage-assets export`: the results as Parquet, CSV, JSON Lines, Markdown or an OCR LMDB."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from upstage_assets.cli.common import (
    EXIT_OK,
    CliError,
    info,
    load_definitions,
    print_json,
    progress_bar,
    storage_of,
)

HELP = "write the results out as parquet, csv, jsonl, markdown or lmdb"
DESCRIPTION = """\
parquet, csv, jsonl: one file per schema with the validated rows (one latest row per document;
--include-quarantine adds <schema>.quarantine.* files). markdown: one <document_id>.md per
parsed document. lmdb: single-line text crops from the page images with their text, as an
LMDB text-recognition training set (image-%09d, label-%09d, num-samples)."""


TABLE_FORMATS = ("parquet", "csv", "jsonl")


def add_parser(subparsers: Any) -> None:
    from upstage_assets.exporters import EXPORTERS

    parser = subparsers.add_parser("export", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", required=True, choices=sorted(EXPORTERS), help="output format")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created)")
    parser.add_argument("--schema", action="append", default=None, metavar="NAME",
                        help="only this schema (repeatable; default all)")
    parser.add_argument("--include-quarantine", action="store_true", help="tables: also export quarantined rows")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print what was written as JSON on stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from upstage_assets.exporters import EXPORTERS, ExportSource

    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out} exists and is not a folder")
    storage = storage_of(load_definitions())
    source = ExportSource(storage.output_store(), storage.layout, storage.read_source)
    total = len(source.document_ids(storage.layout.parsed)) if args.format in ("markdown", "lmdb") else 0
    with progress_bar(total, "doc", not args.no_progress and total > 0, f"export {args.format}") as bar:
        result = EXPORTERS[args.format](source, args.out, schemas=args.schema,
                                        include_quarantine=args.include_quarantine, progress=bar)
    info(f"wrote {result.records} {'samples' if args.format == 'lmdb' else 'records'} "
         f"in {len(result.files)} files under {args.out}")
    for document_id, reason in result.skipped:
        info(f"  skipped {document_id}: {reason}")
    left_out = 0
    if args.format in TABLE_FORMATS and not args.include_quarantine:
        left_out = sum(t.num_rows for name, t in source.tables(storage.layout.quarantine).items()
                       if not args.schema or name in args.schema)
        if left_out:
            info(f"left out {left_out} quarantined rows (failed validation; --include-quarantine adds them)")
    if args.json:
        print_json({"format": args.format, "records": result.records, "files": [str(f) for f in result.files],
                    "skipped": [{"document_id": d, "reason": r} for d, r in result.skipped],
                    "quarantined_left_out": left_out})
    return EXIT_OK
