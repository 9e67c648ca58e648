"""`upstage-assets query "SQL"` and `upstage-assets migrate-tables`: the Delta tables from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from upstage_assets.cli.common import EXIT_OK, CliError, info, load_definitions, print_json, storage_of

QUERY_HELP = "run SQL (DuckDB) over the result tables; views: <schema>, <schema>_quarantine"
MIGRATE_HELP = "convert table folders written the old way (one Parquet file per document) to Delta"


def add_parsers(subparsers: Any) -> None:
    query = subparsers.add_parser("query", help=QUERY_HELP, description=QUERY_HELP)
    query.add_argument("sql", help='e.g. "SELECT issuer, sum(amount) FROM invoice GROUP BY 1"')
    output = query.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="rows as a JSON list of objects")
    output.add_argument("--csv", action="store_true", help="rows as CSV with a header")
    query.set_defaults(handler=run_query)
    migrate = subparsers.add_parser("migrate-tables", help=MIGRATE_HELP, description=MIGRATE_HELP)
    migrate.add_argument("--json", action="store_true", help="print what was migrated as JSON")
    migrate.set_defaults(handler=run_migrate)


def run_query(args: argparse.Namespace) -> int:
    import duckdb
    import pyarrow.csv as pacsv

    from upstage_assets.operations.query import format_table
    from upstage_assets.operations.query import run_query as query

    storage = storage_of(load_definitions())
    try:
        table = query(storage.output_store(), storage.layout, args.sql)
    except duckdb.Error as exc:
        raise CliError(f"query failed: {str(exc).splitlines()[0]}") from exc
    if args.json:
        from upstage_assets.exporters.tables import json_default

        json.dump(table.to_pylist(), sys.stdout, indent=2, default=json_default, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.csv:
        sys.stdout.flush()
        pacsv.write_csv(table, sys.stdout.buffer)
    else:
        print(format_table(table))
    return EXIT_OK


def run_migrate(args: argparse.Namespace) -> int:
    from upstage_assets.operations.migrate_tables import migrate_tables

    storage = storage_of(load_definitions())
    reports = migrate_tables(storage.output_store(), storage.layout)
    if args.json:
        print_json([vars(r) for r in reports])
    elif not reports:
        info("nothing to migrate: every table folder is a Delta table")
    for report in reports:
        if not args.json:
            info(f"{report.schema}: {report.files} old files, {report.rows_read} rows -> {report.documents} documents"
                 + (f"; {len(report.unreadable)} unreadable files left in place" if report.unreadable else ""))
    return EXIT_OK
