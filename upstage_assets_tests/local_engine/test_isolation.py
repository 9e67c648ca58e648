"""Engine calls in worker processes: a hang or a crash fails one document, never the step."""

from __future__ import annotations

import os
import signal
import time

import pytest

from upstage_assets.errors import CorruptDocument, EngineCrashed, EngineTimeout
from upstage_assets.local_engine.isolation import EngineLimits, EnginePool, EngineWorker

pytestmark = pytest.mark.slow  # each case starts worker processes


def echo(value: object) -> object:
    return value


def pid() -> int:
    return os.getpid()


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def exit_hard() -> None:
    os._exit(70)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def refuse() -> None:
    raise CorruptDocument("the document cannot be read (test)")


# Generous: a loaded machine can take seconds to import this module in a fresh worker. The cap sits
# above the engine's own imports (torch for the learned extractor, onnxruntime, pyarrow: ~1.2 GB of
# address space before any document), else the worker could not even start.
LIMITS = EngineLimits(timeout_s=120, memory_mb=2048)


@pytest.fixture
def worker():
    w = EngineWorker(LIMITS)
    yield w
    w.close()


def test_one_worker_serves_many_calls(worker):
    first = worker.call(pid)
    assert worker.call(echo, {"a": [1, 2]}) == {"a": [1, 2]}
    assert worker.call(pid) == first != os.getpid()  # reused, not spawned per call


def test_a_hang_times_out_and_the_next_call_gets_a_fresh_worker(worker):
    before = worker.call(pid)  # started and warm: the short limit below is the call's alone
    worker.limits = EngineLimits(timeout_s=3, memory_mb=2048)
    with pytest.raises(EngineTimeout) as info:
        worker.call(sleep_for, 600)
    assert info.value.code == "engine_timeout" and info.value.retryable
    worker.limits = LIMITS
    assert worker.call(echo, "next") == "next"
    assert worker.call(pid) != before


@pytest.mark.parametrize("crash, described", [(exit_hard, "exit status 70"), (kill_self, "SIGKILL")])
def test_a_crash_fails_the_call_and_the_worker_is_replaced(worker, crash, described):
    with pytest.raises(EngineCrashed) as info:
        worker.call(crash)
    assert info.value.code == "engine_crashed" and info.value.retryable
    assert described in info.value.message
    assert worker.call(echo, 1) == 1


def test_memory_past_the_cap_fails_the_call(worker):
    with pytest.raises(EngineCrashed, match="memory limit of 2048 MB"):
        worker.call(allocate, 3072)
    assert worker.call(allocate, 64) == 64 * 1024 * 1024


def test_document_errors_come_back_as_themselves(worker):
    with pytest.raises(CorruptDocument, match="cannot be read"):
        worker.call(refuse)
    assert worker.call(echo, "still up") == "still up"


def test_pool_runs_calls_on_its_workers_and_closes_them():
    pool = EnginePool(2, EngineLimits(timeout_s=30, memory_mb=None))
    try:
        pids = {pool.call(pid) for _ in range(4)}
        assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    finally:
        pool.close()
    for worker_pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(worker_pid, 0)
