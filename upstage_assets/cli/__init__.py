"""`upstage-assets`: the operator's command line (ingest, status, retry-failed, export, ...).

Exit codes scripts can trust: 0 ok, 1 some documents failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys

from upstage_assets.cli.common import CliError


def build_parser() -> argparse.ArgumentParser:
    from upstage_assets.cli import (
        delegate,
        export_cmd,
        ingest_cmd,
        init_cmd,
        retry_cmd,
        status_cmd,
        tables_cmd,
    )

    parser = argparse.ArgumentParser(
        prog="upstage-assets",
        description="Turn documents into validated Delta Lake tables with Dagster. The instance is "
                    "$DAGSTER_HOME (default data/dagster_home); storage and backend come from the "
                    "UPSTAGE_ASSETS_* environment variables.",
        epilog="exit codes: 0 ok, 1 some documents failed, 2 usage or configuration error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    init_cmd.add_parser(subparsers)
    ingest_cmd.add_parser(subparsers)
    status_cmd.add_parser(subparsers)
    retry_cmd.add_parser(subparsers)
    export_cmd.add_parser(subparsers)
    tables_cmd.add_parsers(subparsers)
    delegate.add_parsers(subparsers)
    return parser


def _handler_and_args(argv: list[str]) -> tuple[object, argparse.Namespace]:
    from upstage_assets.cli import delegate

    # Delegated commands take their arguments verbatim (argparse.REMAINDER drops a leading --help).
    if argv[:1] == ["emulator"]:
        return delegate.run_emulator, argparse.Namespace(rest=argv[1:])
    if argv[:2] == ["aws", "bootstrap"]:
        return delegate.run_aws_bootstrap, argparse.Namespace(rest=argv[2:])
    if argv[:2] == ["aws", "teardown"]:
        return delegate.run_aws_teardown, argparse.Namespace(rest=argv[2:])
    args = build_parser().parse_args(argv)
    return args.handler, args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        handler, args = _handler_and_args(argv)
    except SystemExit as exc:  # argparse: --help exits 0, usage errors exit 2
        return int(exc.code or 0)
    try:
        return int(handler(args))  # type: ignore[operator]
    except CliError as exc:
        print(f"upstage-assets: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("upstage-assets: interrupted", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser"]

if __name__ == "__main__":
    sys.exit(main())
