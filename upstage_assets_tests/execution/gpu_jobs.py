"""Jobs run by the gpu_executor tests: each op records the device it saw and when it ran."""


import json
import os
import time
from pathlib import Path

from dagster import Config, In, Nothing, OpExecutionContext, job, op

from upstage_assets.defs.executors import gpu_executor
from upstage_assets.settings import Settings


class RecordConfig(Config):
    out_dir: str
    hold_seconds: float = 0.5
    meet: int = 1  # wait (up to 60 s) until this many steps have started, so steps provably overlap


def _record(context: OpExecutionContext, config: RecordConfig) -> None:
    started = time.time()
    Path(config.out_dir, f"{context.op.name}.started").touch()
    deadline = time.monotonic() + 60
    while len(list(Path(config.out_dir).glob("*.started"))) < config.meet and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(config.hold_seconds)
    Path(config.out_dir, f"{context.op.name}.json").write_text(json.dumps({
        "op": context.op.name, "pid": os.getpid(), "start": started, "end": time.time(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device": os.environ.get("UPSTAGE_ASSETS_DEVICE"),
    }))


def _gpu_op(name: str):
    @op(name=name, tags={"gpu": "true"})
    def gpu_op(context: OpExecutionContext, config: RecordConfig) -> None:
        _record(context, config)

    return gpu_op


@op(ins={"after": In(Nothing)})
def cpu_op(context: OpExecutionContext, config: RecordConfig) -> None:
    _record(context, config)


gpu_ops = [_gpu_op(f"gpu_{i}") for i in range(4)]


@job(executor_def=gpu_executor)
def four_gpu_steps():
    results = [g() for g in gpu_ops]
    cpu_op(after=results[0])


def four_gpu_steps_job():
    return four_gpu_steps


def process_documents_local():
    """The real document job on the local backend (its executor is gpu_executor)."""
    from upstage_assets.definitions import build_definitions

    return build_definitions(Settings.from_env(backend="local")).resolve_job_def("process_documents")
