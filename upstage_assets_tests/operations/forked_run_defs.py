"""A code location for the code-server tests: its ops say which process imported this module.

A run started by Dagster's stock code server (``spawn``) imports the module itself; one forked from the
project's fork server inherits it, imported by another process. ``IMPORTED_BY`` tells the two apart.
"""

import json
import os
import sys
import time
from pathlib import Path

from dagster import Definitions, OpExecutionContext, in_process_executor, job, op

IMPORTED_BY = os.getpid()
REPORTS = "FORKED_RUN_REPORTS"  # the folder the ops write to (from the environment)
if os.environ.get(REPORTS):  # every process that imports this module says so: the server, the fork server
    Path(os.environ[REPORTS], f"imported.{IMPORTED_BY}").write_text(str(os.getppid()))


@op
def report_process(context: OpExecutionContext) -> None:
    report = {"pid": os.getpid(), "parent": os.getppid(), "imported_by": IMPORTED_BY,
              # nothing here imports these: a run has them only from the fork server's preload
              "run_imports_preloaded": all(m in sys.modules for m in ("pandas", "upstage_assets.upstage_api.http"))}
    Path(os.environ[REPORTS], f"{context.run_id}.json").write_text(json.dumps(report))


@op
def wait_until_terminated(context: OpExecutionContext) -> None:
    Path(os.environ[REPORTS], f"{context.run_id}.started").write_text(str(os.getpid()))
    time.sleep(300)


@job(executor_def=in_process_executor)  # the op in the run's own process, as the project's runs are
def report_job() -> None:
    report_process()


@job(executor_def=in_process_executor)
def long_job() -> None:
    wait_until_terminated()


defs = Definitions(jobs=[report_job, long_job])
