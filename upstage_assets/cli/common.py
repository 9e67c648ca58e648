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
    """The persistent instance in $DAGSTER_HOME (default data/dagster_home).

    A fresh home gets the project's dagster.yaml, said on stderr; a home that already holds an
    instance without one (``dagster dev`` started on Dagster's defaults) is refused, never
    written behind a running instance's back: `upstage-assets init` does that explicitly.
    """
    from upstage_assets.operations.local_instance import (
        instance_config_problem,
        is_fresh_home,
        local_instance,
        write_instance_config,
    )

    home = dagster_home()
    problem = instance_config_problem(home)
    if problem and not is_fresh_home(home):
        raise CliError(problem)
    if problem and write_instance_config(home):
        info(f"wrote the instance configuration {os.path.abspath(home)}/dagster.yaml (a new DAGSTER_HOME)")
    try:
        return local_instance(home)
    except Exception as exc:
        raise CliError(f"cannot open the Dagster instance in {dagster_home()}: {type(exc).__name__}: {exc}") from exc


def load_settings(*, launching: bool = False, sources: tuple[str, ...] = ()) -> Any:
    """The environment's ``Settings``; with ``launching``, everything a run needs is checked first.

    ``sources`` are extra URIs the command reads (``ingest s3://...``). Every missing setting is
    named on one line (exit code 2) before anything is registered or launched.
    """
    from upstage_assets.settings import Settings

    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a bad UPSTAGE_ASSETS_* setting
        raise CliError(str(exc)) from exc
    problems = settings.problems() if launching else []
    uses_s3 = any(str(u).startswith("s3://") for u in (settings.inbox, settings.output_root, *sources))
    if uses_s3 and not _aws_credentials_found():
        problems.append("no AWS credentials found for s3:// (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                        "or a profile; any values for moto or MinIO)")
    if problems:
        raise CliError("; ".join(problems))
    return settings


def check_api_reachable(settings: Any, timeout_s: float = 5.0) -> None:
    """Before runs execute here: a TCP connection to the Upstage base URL, or one line naming the setting."""
    import socket
    from urllib.parse import urlsplit

    if settings.backend == "local":
        return
    url = urlsplit(settings.base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout_s):
            pass
    except OSError as exc:
        hint = " (start it with `upstage-assets emulator`)" if settings.backend == "emulator" else ""
        raise CliError(f"cannot connect to {settings.base_url}{hint}: {exc.strerror or type(exc).__name__}; "
                       "check UPSTAGE_API_BASE_URL") from None


def _aws_credentials_found() -> bool:
    import botocore.session

    try:
        return botocore.session.get_session().get_credentials() is not None
    except Exception:  # an unreadable profile is as good as none
        return False


def load_definitions(*, launching: bool = False, sources: tuple[str, ...] = ()) -> Any:
    from upstage_assets.definitions import build_definitions

    return build_definitions(load_settings(launching=launching, sources=sources))


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
