"""What every subcommand shares: exit codes, errors, the instance, the definitions, output."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

EXIT_OK = 0
EXIT_DOCUMENTS_FAILED = 1
EXIT_USAGE = 2
DEFAULT_DAGSTER_HOME = "data/dagster_home"


class CliError(Exception):
    """A usage or configuration problem: printed as one line, exit code 2."""

    exit_code = EXIT_USAGE


def dagster_home() -> str:
    return os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME


def open_instance() -> Any:
    """The persistent instance in $DAGSTER_HOME (default data/dagster_home, created with the local config)."""
    from upstage_assets.operations.local_instance import local_instance

    try:
        return local_instance(dagster_home())
    except Exception as exc:
        raise CliError(f"cannot open the Dagster instance in {dagster_home()}: {type(exc).__name__}: {exc}") from exc


def load_definitions() -> Any:
    from upstage_assets.definitions import build_definitions

    try:
        return build_definitions()
    except ValueError as exc:  # a bad UPSTAGE_ASSETS_* setting
        raise CliError(str(exc)) from exc


def storage_of(defs: Any) -> Any:
    return defs.resources["storage"]


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def progress_bar(total: int, unit: str, enabled: bool, description: str) -> Any:
    """A tqdm bar on stderr when it is a terminal (and asked for); a silent stand-in otherwise."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=description, disable=not enabled or not sys.stderr.isatty(),
                file=sys.stderr, dynamic_ncols=True)


def info(message: str) -> None:
    print(message, file=sys.stderr)
