"""Subcommands that hand over to other modules: the API emulator and AWS bootstrap."""

from __future__ import annotations

import argparse
from typing import Any

from upstage_assets.cli.common import CliError


def add_parsers(subparsers: Any) -> None:
    emulator = subparsers.add_parser(
        "emulator", help="run the local Upstage API emulator (python -m upstage_assets.emulator)",
        description="Everything after `emulator` is passed to python -m upstage_assets.emulator "
                    "(try `upstage-assets emulator --help`).", add_help=False)
    emulator.add_argument("rest", nargs=argparse.REMAINDER)
    emulator.set_defaults(handler=run_emulator)
    aws = subparsers.add_parser("aws", help="AWS helpers", description="AWS helpers.")
    aws_sub = aws.add_subparsers(dest="aws_command", metavar="COMMAND", required=True)
    bootstrap = aws_sub.add_parser(
        "bootstrap", help="create or confirm the AWS resources the platform needs (idempotent)",
        description="Everything after `bootstrap` is passed to upstage_assets.aws.bootstrap "
                    "(try `upstage-assets aws bootstrap --help`).", add_help=False)
    bootstrap.add_argument("rest", nargs=argparse.REMAINDER)
    bootstrap.set_defaults(handler=run_aws_bootstrap)
    teardown = aws_sub.add_parser(
        "teardown", help="delete the deployment's stack (the bucket, images and secrets are kept)",
        description="Everything after `teardown` is passed to upstage_assets.aws.bootstrap's teardown "
                    "(try `upstage-assets aws teardown --help`).", add_help=False)
    teardown.add_argument("rest", nargs=argparse.REMAINDER)
    teardown.set_defaults(handler=run_aws_teardown)


def _delegate(module: str, argv: list[str], entry: str = "main") -> int:
    import importlib

    try:
        target = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(f"{exc.name}.")):
            raise CliError(f"{module} is not available in this installation ({exc.name} not found)") from exc
        raise
    main = getattr(target, entry, None)
    if main is None:
        raise CliError(f"{module} has no {entry}(argv)")
    return int(main(argv) or 0)


def run_emulator(args: argparse.Namespace) -> int:
    return _delegate("upstage_assets.emulator.__main__", list(args.rest))


def run_aws_bootstrap(args: argparse.Namespace) -> int:
    return _delegate("upstage_assets.aws.bootstrap", list(args.rest))


def run_aws_teardown(args: argparse.Namespace) -> int:
    return _delegate("upstage_assets.aws.bootstrap", list(args.rest), "main_teardown")
