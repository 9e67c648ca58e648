"""``gpu_executor``: every step in its own process, each GPU-tagged step on its own device.

Built on Dagster's ``StepDelegatingExecutor`` (the machinery behind the k8s and docker
executors) with a step handler that starts ``dagster api execute_step`` as a local child
process. The multiprocess executor has no per-step launch hook (its child start is buried
in a module function), whereas a step handler sees each step's tags before its process
exists, so the device can be chosen in the parent and set in the child's environment:

- a step tagged ``gpu: "true"`` gets ``CUDA_VISIBLE_DEVICES=<its device>`` and
  ``UPSTAGE_ASSETS_DEVICE=cuda:0`` (inside the child the one visible device is ``cuda:0``);
- a device is leased with an exclusive ``flock`` on ``<lock_dir>/device-<id>.lock`` that
  the child inherits and the parent then closes, so the kernel holds the lease exactly as
  long as the child lives (a SIGKILLed step frees its device) and two runs on one host
  never share a device either;
- on a machine without GPUs, GPU steps run on the CPU (``UPSTAGE_ASSETS_DEVICE=cpu``) and
  the run logs a warning saying so.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    DagsterEvent,
    Field,
    InitExecutorContext,
    Noneable,
    executor,
    multiple_process_executor_requirements,
)

from upstage_assets.dagster_compat import (
    CheckStepHealthResult,
    EngineEventData,
    RetryMode,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
    check,
    get_retries_config,
)
from upstage_assets.settings import Settings

logger = logging.getLogger(__name__)

GPU_TAG = "gpu"
GPU_TAG_VALUE = "true"
DEVICE_ENV = "UPSTAGE_ASSETS_DEVICE"
CPU_FALLBACK_WARNING = "no GPU on this machine: GPU-tagged steps run on the CPU"


def is_gpu_step(tags: dict[str, str] | Any) -> bool:
    return str((tags or {}).get(GPU_TAG, "")).lower() == GPU_TAG_VALUE


def detect_devices() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else what nvidia-smi lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    nvidia_smi = shutil.which("nvidia-smi")
    if not nvidia_smi:
        return []
    try:
        out = subprocess.run([nvidia_smi, "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


@dataclass
class DeviceLease:
    device: str
    fd: int

    def release(self) -> None:
        """Close the parent's copy; the lock lives on in whichever child inherited it."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class DevicePool:
    """Exclusive leases on devices through kernel file locks (held by whoever has the fd open)."""

    def __init__(self, devices: Sequence[str], lock_dir: str | os.PathLike[str],
                 poll_seconds: float = 0.05):
        self.devices = list(devices)
        self.lock_dir = Path(lock_dir)
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        self.poll_seconds = poll_seconds

    def _lock_path(self, device: str) -> Path:
        return self.lock_dir / f"device-{device}.lock"

    def try_acquire(self) -> DeviceLease | None:
        for device in self.devices:
            fd = os.open(self._lock_path(device), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.set_inheritable(fd, True)
            return DeviceLease(device, fd)
        return None

    def acquire(self, timeout: float | None = None) -> DeviceLease:
        """Wait for a free device (a finished step's process may still be exiting)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            lease = self.try_acquire()
            if lease is not None:
                return lease
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"no free device among {self.devices} after {timeout}s")
            time.sleep(self.poll_seconds)


class LocalDeviceStepHandler(StepHandler):
    """Starts each step as ``dagster api execute_step`` in a child process of the run worker."""

    def __init__(self, pool: DevicePool, device_wait_seconds: float | None = None):
        self.pool = pool
        self.device_wait_seconds = device_wait_seconds
        self._processes: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._warned_runs: set[str] = set()

    @property
    def name(self) -> str:
        return "LocalDeviceStepHandler"

    @staticmethod
    def _step_key(context: StepHandlerContext) -> str:
        keys = context.execute_step_args.step_keys_to_execute
        check.invariant(keys is not None and len(keys) == 1, "one step per launch")
        return keys[0]  # type: ignore[index]

    def _reap(self) -> None:
        for process in self._processes.values():
            process.poll()

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        self._reap()
        step_key = self._step_key(step_handler_context)
        args = step_handler_context.execute_step_args
        step_context = step_handler_context.get_step_context(step_key)
        env = dict(os.environ)
        for item in args.get_command_env():
            env[item["name"]] = item["value"]
        lease: DeviceLease | None = None
        device_text = "none (not a GPU step)"
        if is_gpu_step(step_handler_context.step_tags[step_key]):
            if self.pool.devices:
                lease = self.pool.acquire(self.device_wait_seconds)
                env["CUDA_VISIBLE_DEVICES"] = lease.device
                env[DEVICE_ENV] = "cuda:0"
                device_text = f"GPU {lease.device}"
            else:
                env["CUDA_VISIBLE_DEVICES"] = ""
                env[DEVICE_ENV] = "cpu"
                device_text = "cpu (fallback)"
                if args.run_id not in self._warned_runs:
                    self._warned_runs.add(args.run_id)
                    logger.warning(CPU_FALLBACK_WARNING)
                    yield DagsterEvent.engine_event(step_context, CPU_FALLBACK_WARNING, EngineEventData())
        try:
            process = subprocess.Popen(_command(args), env=env,
                                       pass_fds=(lease.fd,) if lease else ())
        finally:
            if lease:
                lease.release()
        self._processes[(args.run_id, step_key)] = process
        yield DagsterEvent.step_worker_starting(
            step_context, message=f'Executing step "{step_key}" in process {process.pid} on {device_text}.',
            metadata={"pid": str(process.pid), "device": device_text})

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        key = (step_handler_context.execute_step_args.run_id, self._step_key(step_handler_context))
        process = self._processes.get(key)
        if process is None:
            return CheckStepHealthResult.unhealthy("no process was started for this step by this worker")
        code = process.poll()
        if code is None or code == 0:
            return CheckStepHealthResult.healthy()
        return CheckStepHealthResult.unhealthy(f"step process {process.pid} exited with code {code}")

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        step_key = self._step_key(step_handler_context)
        process = self._processes.get((step_handler_context.execute_step_args.run_id, step_key))
        if process is not None and process.poll() is None:
            yield DagsterEvent.engine_event(step_handler_context.get_step_context(step_key),
                                            f"terminating step process {process.pid}", EngineEventData())
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _command(args: Any) -> list[str]:
    """``dagster api execute_step`` run by the code location's own interpreter (no PATH lookup)."""
    command = list(args.get_command_args(skip_serialized_namedtuple=True))
    if command and command[0] == "dagster":
        command = [args.job_origin.executable_path or sys.executable, "-m", "dagster", *command[1:]]
    return command


def default_lock_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "upstage_assets_device_locks")


@executor(
    name="gpu_executor",
    config_schema={
        "devices": Field(Noneable([str]), default_value=None,
                         description="GPU ids to hand out, e.g. ['0', '1']; default: detected"),
        "max_concurrent": Field(int, default_value=4, description="steps in flight at once"),
        "cpu_fallback_concurrency": Field(
            int, default_value=1, description="GPU-tagged steps at once when there is no GPU"),
        "lock_dir": Field(Noneable(str), default_value=None,
                          description="folder of device lock files shared by every run on the host"),
        "sleep_seconds": Field(float, default_value=0.2, description="event-log polling interval"),
        "retries": get_retries_config(),
    },
    requirements=multiple_process_executor_requirements(),
)
def gpu_executor(init_context: InitExecutorContext) -> StepDelegatingExecutor:
    """Each step in its own process; each GPU step alone on one device (CPU fallback)."""
    config: dict[str, Any] = dict(init_context.executor_config)
    configured = config.get("devices")
    devices = [str(d) for d in configured] if configured is not None else detect_devices()
    pool = DevicePool(devices, config.get("lock_dir") or default_lock_dir())
    gpu_slots = len(devices) if devices else int(config["cpu_fallback_concurrency"])
    return StepDelegatingExecutor(
        LocalDeviceStepHandler(pool),
        retries=RetryMode.from_config(config["retries"]),  # type: ignore[arg-type]
        sleep_seconds=float(config["sleep_seconds"]),
        check_step_health_interval_seconds=1,
        max_concurrent=int(config["max_concurrent"]),
        tag_concurrency_limits=[{"key": GPU_TAG, "value": GPU_TAG_VALUE, "limit": max(1, gpu_slots)}],
    )


def executor_for_settings(settings: Settings) -> Any:
    """The local engine's runs get devices; HTTP-bound runs stay in one process (async fan-out)."""
    from dagster import in_process_executor

    return gpu_executor if settings.backend == "local" else in_process_executor
