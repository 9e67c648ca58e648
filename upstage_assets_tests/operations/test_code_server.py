"""The project's code server: runs forked from a warm fork server, launched and cancelled as Dagster does.

Real processes throughout: the gRPC code server on 127.0.0.1, ``dagster job launch`` through the instance's
DefaultRunLauncher, the run in its own process. Dagster's stock server (``dagster api grpc``) runs the same
job as the control, so the import check can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from upstage_assets.dagster_compat import instance_from_dir
from upstage_assets.operations.code_server import definitions_module
from upstage_assets_tests.fixtures.ports import free_port
from upstage_assets_tests.fixtures.waiting import wait_for
from upstage_assets_tests.operations.forked_run_defs import REPORTS

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEFS_MODULE = "upstage_assets_tests.operations.forked_run_defs"
FORKING = [sys.executable, "-m", "upstage_assets.operations.code_server"]
STOCK = [str(BIN / "dagster"), "api", "grpc"]
# Runs launch at once (no daemon here): the instance's default coordinator would queue them.
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""

pytestmark = pytest.mark.slow


@contextmanager
def code_server(serve: list[str], tmp_path: Path) -> Iterator[tuple[DagsterInstance, dict[str, str], Path, int]]:
    """The code server on a free port, an instance home, a workspace that reaches it over gRPC, its pid."""
    home, reports = tmp_path / "home", tmp_path / "reports"
    home.mkdir()
    reports.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")},
           "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1", REPORTS: str(reports)}
    (tmp_path / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n      location_name: forked\n")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen([*serve, "-h", "127.0.0.1", "-p", str(port), "-m", DEFS_MODULE], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while subprocess.run([str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)], env=env,
                             capture_output=True).returncode != 0:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the code server did not answer in 120 s"
            time.sleep(0.5)
        with instance_from_dir(str(home)) as instance:
            yield instance, env, reports, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def launch(job: str, env: dict[str, str], tmp_path: Path, instance: DagsterInstance) -> str:
    """``dagster job launch`` (the instance's DefaultRunLauncher asks the code server to start it); the run id."""
    before = set(instance.get_run_ids())
    result = subprocess.run([str(BIN / "dagster"), "job", "launch", "-w", str(tmp_path / "workspace.yaml"),
                             "-j", job], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_id,) = set(instance.get_run_ids()) - before
    return run_id


def finished_status(instance: DagsterInstance, run_id: str) -> DagsterRunStatus | None:
    run = instance.get_run_by_id(run_id)
    return run.status if run is not None and run.is_finished else None


@pytest.mark.parametrize(("serve", "forked"), [(FORKING, True), (STOCK, False)], ids=["project", "dagster-stock"])
def test_runs_start_from_a_process_that_imported_the_definitions(tmp_path, serve, forked):
    with code_server(serve, tmp_path) as (instance, env, reports, _):
        run_ids = [launch("report_job", env, tmp_path, instance) for _ in range(2)]
        for run_id in run_ids:
            assert wait_for(lambda run_id=run_id: finished_status(instance, run_id), 120,
                            "the run") == DagsterRunStatus.SUCCESS
        found = [json.loads((reports / f"{run_id}.json").read_text()) for run_id in run_ids]
    for report in found:
        # Forked: the definitions came with the fork (imported once, by the fork server, the runs' parent);
        # Dagster's spawn: every run imports them itself.
        assert (report["imported_by"] != report["pid"]) is forked, found
        assert report["run_imports_preloaded"] is forked  # what a run imports later, the fork server has too
        if forked:
            assert report["imported_by"] == report["parent"]
    assert found[0]["pid"] != found[1]["pid"]  # a process per run, as Dagster's own server has it
    if forked:
        assert found[0]["imported_by"] == found[1]["imported_by"]  # one warm process serves every run


def test_a_forked_run_is_cancelled_through_the_code_server(tmp_path):
    with code_server(FORKING, tmp_path) as (instance, env, reports, _):
        run_id = launch("long_job", env, tmp_path, instance)
        started = wait_for(lambda: (reports / f"{run_id}.started").exists() and reports / f"{run_id}.started", 120,
                           "the op to start")
        pid = int(started.read_text())
        assert instance.run_launcher.terminate(run_id)
        assert wait_for(lambda: finished_status(instance, run_id), 120, "the cancellation") == DagsterRunStatus.CANCELED
        wait_for(lambda: not _alive(pid), 60, "the run's process to exit")


def test_the_fork_server_starts_with_the_code_server_before_any_run(tmp_path):
    """The first run does not wait for the fork server's imports: they are under way as the server starts.

    Control (checked by hand): with the start deferred to the first run, as Dagster's multiprocessing
    does by default, no second process imports the definitions while no run is launched."""
    with code_server(FORKING, tmp_path) as (instance, _env, reports, server_pid):
        def fork_server() -> int | None:
            others = [int(p.name.split(".")[1]) for p in reports.glob("imported.*") if p.name != f"imported.{server_pid}"]
            return others[0] if others else None

        pid = wait_for(fork_server, 120, "a process other than the server to import the definitions")
        assert instance.get_run_ids() == []
        assert "forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert int((reports / f"imported.{pid}").read_text()) == server_pid  # the server started it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"  # a zombie has exited


@pytest.mark.parametrize(("argv", "module"), [
    (["-h", "0.0.0.0", "-p", "4000", "-m", "my.defs"], "my.defs"),
    (["--module-name", "other.defs", "-p", "4000"], "other.defs"),
    (["--module-name=third.defs"], "third.defs"),
    (["-p", "4000"], "upstage_assets.definitions"),
])
def test_the_fork_server_preloads_the_module_the_server_loads(argv, module):
    assert definitions_module(argv) == module
