"""Time ``status``, ``status --json`` and ``retry-failed --dry-run`` in one interpreter.

``bench/scale.py`` calls ``time_commands`` in its own process, and runs this file in a
subprocess with another source tree first on ``PYTHONPATH`` (``--baseline``) to time that tree's
commands against the same state: it prints the timings as one JSON line.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time


def _timed_cli(argv: list[str]) -> float:
    from upstage_assets.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        started = time.perf_counter()
        main(argv)
        return time.perf_counter() - started


def time_commands() -> dict[str, float]:
    _timed_cli(["status"])  # warm-up: imports and definitions, paid once per process
    profile = os.environ.get("UPSTAGE_BENCH_PROFILE")  # a file: where to dump one more, profiled, status
    if profile:
        import cProfile

        cProfile.runctx('_timed_cli(["status"])', globals(), {}, profile)
    return {"status_s": _timed_cli(["status"]), "status_json_s": _timed_cli(["status", "--json"]),
            "retry_dry_run_s": _timed_cli(["retry-failed", "--dry-run"])}


if __name__ == "__main__":
    print(json.dumps(time_commands()))
