"""`upstage-assets init`: write the instance configuration into $DAGSTER_HOME, once, visibly."""

from __future__ import annotations

import argparse
from typing import Any

from upstage_assets.cli.common import EXIT_OK, CliError, dagster_home, info

HELP = "write the project's dagster.yaml into $DAGSTER_HOME (run queue, pools, run monitoring)"
DESCRIPTION = """\
Write the project's dagster.yaml into $DAGSTER_HOME (default data/dagster_home) unless one is
there: telemetry off, at most 5 runs at once and 4 per backfill, op concurrency pools (`gpu`:
one per device, `upstage_api`: 4) and run monitoring that frees the slots of dead runs. Run it
once before `dagster dev` on your own DAGSTER_HOME (`make dev` does). An existing dagster.yaml is
left as it is. Restart a running `dagster dev` afterwards: it reads the file when it starts."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("init", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os

    from upstage_assets.operations.local_instance import local_instance, write_instance_config

    home = os.path.abspath(dagster_home())
    try:
        written = write_instance_config(home)
        local_instance(home)  # sets the pools' limits
    except OSError as exc:
        raise CliError(f"cannot write {home}/dagster.yaml: {exc.strerror or exc}") from exc
    if written:
        info(f"wrote {home}/dagster.yaml: run queue (4 runs, 2 per backfill), pools gpu/upstage_api, run "
             "monitoring; restart `dagster dev` if it is running")
    else:
        info(f"{home}/dagster.yaml already exists: left as it is")
    return EXIT_OK
