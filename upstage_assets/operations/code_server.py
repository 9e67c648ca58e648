"""The code location's gRPC server, starting each run from a process that has already imported everything.

Dagster's code server starts every run as a new ``spawn`` process, which imports Dagster and the
definitions again: 2 s of CPU on a quiet core and about 4 s on a loaded one, every run, 20-40 ms per
document at 100 documents per run. This server is Dagster's own (``dagster api grpc``, same options),
except that its runs come from Python's ``forkserver``: one single-threaded process imports Dagster's run
entry point and the definitions once, and forks each run from there. Forking a process that runs no
threads is safe; that is what the ``forkserver`` start method is for. Everything else a run does (its
process, its events, its cancellation through the code server) is Dagster's, unchanged. A module the fork
server cannot import (Python skips it) is imported by each run, as with Dagster's server.

Run it as ``python -m upstage_assets.operations.code_server -h HOST -p PORT -m upstage_assets.definitions``.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import multiprocessing.forkserver
import sys
import threading
from collections.abc import Sequence
from typing import Any

from upstage_assets.dagster_compat import RUN_ENTRY_MODULE, grpc_api_server_class, grpc_server_command

# What a run process imports before it reads its arguments (Dagster's run entry point), and what the
# project's runs import on their way to their first document (``operations/run_imports.py``).
RUN_ENTRY_MODULES = (RUN_ENTRY_MODULE, "upstage_assets.operations.run_imports")
DEFAULT_DEFINITIONS = "upstage_assets.definitions"
_PATCHED = "_upstage_forks_runs"


def definitions_module(argv: Sequence[str]) -> str:
    """The module the server loads (``-m`` / ``--module-name``): the fork server imports it once, ahead."""
    for index, arg in enumerate(argv):
        if arg in ("-m", "--module-name") and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--module-name="):
            return arg.split("=", 1)[1]
    return DEFAULT_DEFINITIONS


def start_runs_from_fork_server(preload: Sequence[str]) -> None:
    """Make Dagster's gRPC server start runs from a fork server that imported ``preload`` first.

    Dagster pins its run processes' start method in ``DagsterApiServer.__init__`` (``_mp_ctx``, ``spawn``);
    this sets it to ``forkserver`` right after, and starts the fork server in the background
    (``preload_in_background``), so the first run does not wait for its imports: 1.5-1.8 s on a two-core
    host, paid by every run of a backfill's first wave, which the queue launches one after the other.
    Where runs go elsewhere (Kubernetes jobs, ECS tasks) the deployments run Dagster's stock server,
    which holds no fork server (docs/deploy.md)."""
    DagsterApiServer = grpc_api_server_class()
    original = DagsterApiServer.__init__
    if getattr(original, _PATCHED, False):
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))

    @functools.wraps(original)
    def init(self: Any, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        if not hasattr(self, "_mp_ctx"):  # Dagster renamed it: fail loudly rather than run unwarmed
            raise RuntimeError("this Dagster's gRPC server has no _mp_ctx: the fork-server code server needs "
                               "the Dagster version pinned in pyproject.toml")
        self._mp_ctx = context  # type: ignore[assignment]  # both are multiprocessing contexts
        preload_in_background()

    setattr(init, _PATCHED, True)
    DagsterApiServer.__init__ = init  # type: ignore[method-assign]


def preload_in_background() -> threading.Thread:
    """Start the fork server (its imports) on a thread, while the gRPC server comes up.

    ``ensure_running`` is what a run's start calls anyway, under a lock, so a run launched meanwhile
    waits for the same fork server and none starts twice. If the imports fail here, the first run
    tries again and reports the error as before."""
    def start() -> None:
        try:
            multiprocessing.forkserver.ensure_running()
        except Exception as exc:  # the run that needs it tries again, and fails visibly
            logging.getLogger(__name__).warning(f"could not start the fork server ahead of the first run: {exc!r}")

    thread = threading.Thread(target=start, name="fork-server-preload", daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> None:
    """``dagster api grpc`` with runs forked from a warm process; the same options."""
    grpc_command = grpc_server_command()
    args = list(sys.argv[1:] if argv is None else argv)
    start_runs_from_fork_server([*RUN_ENTRY_MODULES, definitions_module(args)])
    grpc_command.main(args=args, prog_name="python -m upstage_assets.operations.code_server")


if __name__ == "__main__":
    main()
