"""bench/cpu_roles.py charges a phase's CPU to the roles that used it (the bound in throughput.md rests on it).

A real child process burns a known amount of CPU under a role's command line; CPU time, not wall time,
is asserted, so a busy host changes nothing.
"""

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import cpu_roles  # noqa: E402
from cpu_roles import BENCH, ELSEWHERE, CpuByRole, CpuUse, role_of  # noqa: E402

BURN = """
import sys, time
end = time.process_time() + float(sys.argv[1])
while time.process_time() < end:
    pass
print("burnt", flush=True)
time.sleep(60)
"""


def test_roles_follow_the_command_line():
    assert role_of("python -m upstage_assets.emulator --port 0", "python", 7, 1) == "emulator"
    assert role_of("python -c from multiprocessing.spawn import spawn_main; spawn_main(...)", "python", 7, 1) == "run workers"
    assert role_of("postgres: dagster bench 127.0.0.1(5000) idle", "postgres", 7, 1) == "postgres"
    assert role_of("/venv/bin/dagster-daemon run -w workspace.yaml", "dagster-daemon", 7, 1) == "daemon"
    assert role_of("anything", "python", 1, 1) == BENCH
    assert role_of("vim notes.md", "vim", 7, 1) == "other: vim"


def test_a_child_that_burns_cpu_is_charged_to_its_role_and_left_out_of_the_bound(monkeypatch):
    # A role of this test's own, read from the child's command line, so that other tests' processes
    # (emulators, daemons running beside this one) are not charged to it.
    marker = f"cpu-roles-test-{uuid.uuid4().hex}"
    monkeypatch.setattr(cpu_roles, "ROLES", (("burner", (marker,)), *cpu_roles.ROLES))
    child = subprocess.Popen([sys.executable, "-c", BURN, "0.8", marker], stdout=subprocess.PIPE, text=True)
    try:
        with CpuByRole(not_measured=("burner",), interval_s=0.1) as cpu:
            assert child.stdout is not None and child.stdout.readline().strip() == "burnt"
            end = time.process_time() + 0.3  # the bench process's own share
            while time.process_time() < end:
                pass
    finally:
        child.kill()
        child.wait()
    use = cpu.use
    assert 0.7 <= use.by_role["burner"] <= 1.2, use.by_role
    assert use.by_role[BENCH] >= 0.25, use.by_role
    assert use.host_busy_s >= use.by_role["burner"] + use.by_role[BENCH] - 0.1
    assert use.per_document_ms(10)["burner"] == pytest.approx(use.by_role["burner"] * 100)
    # What is not measured does not move the bound, however much it burns.
    bound = use.docs_per_s_alone(10)
    use.by_role["burner"] += 100.0
    use.host_busy_s += 100.0
    assert use.docs_per_s_alone(10) == pytest.approx(bound)


def test_the_bound_leaves_out_what_is_not_measured_and_the_unattributed_rest():
    use = CpuUse(seconds=10.0, host_busy_s=9.0, cores=2, by_role={"run workers": 4.0, "emulator": 2.0, BENCH: 1.0,
                                                                    "other: vim": 0.5},
                 not_measured=("emulator", BENCH))
    assert use.per_document_ms(100)[ELSEWHERE] == pytest.approx(15.0)  # 9 - 7.5 s over 100 documents
    assert use.docs_per_s_alone(100) == pytest.approx(2 / 0.04)  # only the run workers' 40 ms per document
    assert use.busy_cores == pytest.approx(0.9)
    assert "run workers 40" in use.summary(100) and "CPU bound without emulator and bench process: 50.0" in use.summary(100)


def test_short_lived_postgres_backends_are_charged_to_postgres(postgres_server):
    """Each connection forks a backend that lives milliseconds, between two samples; the postmaster's
    reaped children's times still charge their CPU to PostgreSQL, not to the unattributed rest."""
    import psutil
    import psycopg2

    def connect():
        return psycopg2.connect(host=postgres_server.host, port=postgres_server.port, user=postgres_server.user,
                                dbname="postgres")

    with connect() as probe, probe.cursor() as cursor:
        cursor.execute("select pg_backend_pid()")
        postmaster = psutil.Process(psutil.Process(cursor.fetchone()[0]).ppid())
    probe.close()

    def reaped() -> float:
        times = postmaster.cpu_times()
        return times.children_user + times.children_system

    with CpuByRole(interval_s=0.5) as cpu:
        before = reaped()
        for _ in range(100):
            connection = connect()
            connection.cursor().execute("select 1")
            connection.close()
        time.sleep(0.3)  # the postmaster reaps the last backends
        backends = reaped() - before
    assert backends > 0
    assert cpu.use.by_role.get("postgres", 0.0) >= 0.9 * backends, (cpu.use.by_role, backends)
