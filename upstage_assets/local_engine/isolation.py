"""Local-engine calls in worker processes with a time and a memory limit.

A damaged or adversarial file can make pdfium or onnxruntime hang, allocate without bound or
crash natively (a fuzzed 2-page PDF took 110 s). Run in the step's own process, that takes the
whole batch down. Each call here runs in a long-lived worker process instead (spawned once,
reused for every document, so a document pays for a pipe round trip, not a process start):

- past ``timeout_s`` the worker is killed (SIGKILL) and the document fails with ``EngineTimeout``;
- the worker's address space is capped (``RLIMIT_AS``); a worker that dies (a native crash, the
  cap reached, ``os._exit``) fails only its document, with ``EngineCrashed``;
- either way the next call starts a fresh worker and the batch goes on.

Workers are plain ``multiprocessing`` processes over a pipe, never a ``Pool``: a Pool's
``terminate()`` hangs where SIGTERM is ignored (see ENVIRONMENT.md); workers here stop on a
sentinel or are killed outright, and are always joined.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from upstage_assets.errors import EngineCrashed, EngineTimeout

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MEMORY_MB = 4096
# Spawning imports the engine (numpy, pdfium, onnxruntime): this long, not the document's limit.
STARTUP_TIMEOUT_S = 180.0
# Modules a worker imports when it starts (comma-separated), e.g. to install fault hooks in tests.
PRELOAD_ENV = "UPSTAGE_ASSETS_ENGINE_PRELOAD"


@dataclass(frozen=True)
class EngineLimits:
    """Per-call limits. ``memory_mb=None`` (or 0) leaves the address space uncapped."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int | None = DEFAULT_MEMORY_MB

    @classmethod
    def from_env(cls) -> EngineLimits:
        timeout = float(os.environ.get("UPSTAGE_ASSETS_ENGINE_TIMEOUT_S", DEFAULT_TIMEOUT_S))
        memory = int(os.environ.get("UPSTAGE_ASSETS_ENGINE_MEMORY_MB", DEFAULT_MEMORY_MB))
        return cls(timeout_s=timeout, memory_mb=memory or None)


def _worker_main(conn: Any, memory_mb: int | None) -> None:
    """The worker's loop: receive (function, args, kwargs), answer ("ok", result) or ("error", exc)."""
    # The parent decides when we stop: Ctrl-C goes to it, and SIGTERM must work even where the
    # parent's shell left it ignored (an ignored disposition survives exec).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if memory_mb:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # The engine's imports (numpy, pdfium, OpenCV, onnxruntime) are paid here, not by the first document.
    for name in ("upstage_assets.local_engine.document_parse", "upstage_assets.local_engine.kie",
                 *filter(None, (m.strip() for m in os.environ.get(PRELOAD_ENV, "").split(",")))):
        importlib.import_module(name)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        if message is None:
            return
        fn, args, kwargs = message
        try:
            reply: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except MemoryError:
            conn.send(("memory", None))
            os._exit(3)  # allocator state is suspect after hitting the cap: start afresh
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            reply = ("error", exc)
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result or exception
            conn.send(("error", RuntimeError(f"engine result could not be returned: {type(exc).__name__}: {exc}")))


class EngineWorker:
    """One worker process, restarted on demand; used by one thread at a time."""

    def __init__(self, limits: EngineLimits):
        self.limits = limits
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Any = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def _start(self) -> None:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_worker_main, args=(child, self.limits.memory_mb),
                                        name="local-engine-worker", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        if not parent.poll(STARTUP_TIMEOUT_S):
            self._kill()
            raise EngineTimeout(f"the local engine's worker did not start within {STARTUP_TIMEOUT_S:.0f} s")
        try:
            parent.recv()
        except (EOFError, OSError):
            exitcode = self._kill()
            raise EngineCrashed(f"the local engine's worker died while starting ({_describe(exitcode)})") from None

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in the worker; ``fn`` must be a module-level (picklable) function."""
        if self._process is None or not self._process.is_alive():
            self._discard()
            self._start()
        try:
            self._conn.send((fn, args, kwargs))
        except (BrokenPipeError, OSError):
            exitcode = self._kill()
            raise EngineCrashed(f"the local engine's worker was gone ({_describe(exitcode)})") from None
        if not self._conn.poll(self.limits.timeout_s):
            self._kill()
            raise EngineTimeout(f"the local engine did not finish within {self.limits.timeout_s:g} s; "
                                "the worker was stopped")
        try:
            status, payload = self._conn.recv()
        except (EOFError, OSError):
            exitcode = self._kill()
            raise EngineCrashed(f"the local engine's worker died on this document ({_describe(exitcode)})") from None
        if status == "ok":
            return payload
        if status == "memory":
            self._kill()
            raise EngineCrashed(f"the local engine reached its memory limit of {self.limits.memory_mb} MB")
        raise payload

    def _kill(self) -> int | None:
        """Stop the worker outright (SIGKILL) and reap it; returns its exit code."""
        process = self._process
        exitcode = None
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(timeout=10)
            exitcode = process.exitcode
        self._discard()
        return exitcode

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None and not self._process.is_alive():
            self._process.join(timeout=1)
            self._process.close()
        self._process, self._conn = None, None

    def close(self) -> None:
        """Ask the worker to exit; kill it if it does not within a few seconds."""
        if self._process is None:
            return
        try:
            self._conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout=5)
        self._kill()


def _describe(exitcode: int | None) -> str:
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


class EnginePool:
    """``size`` workers shared by threads: each call borrows one, so calls run in parallel.

    ``close`` stops the idle workers at once and each busy one as its call returns.
    """

    def __init__(self, size: int, limits: EngineLimits):
        self.limits = limits
        self._idle: queue.SimpleQueue[EngineWorker] = queue.SimpleQueue()
        for _ in range(max(1, size)):
            self._idle.put(EngineWorker(limits))
        self._lock = threading.Lock()
        self._closed = False

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._closed:
            raise RuntimeError("the engine pool is closed")
        worker = self._idle.get()
        try:
            return worker.call(fn, *args, **kwargs)
        finally:
            with self._lock:
                if self._closed:
                    worker.close()
                self._idle.put(worker)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = []
            while True:
                try:
                    idle.append(self._idle.get_nowait())
                except queue.Empty:
                    break
            for worker in idle:
                worker.close()
                self._idle.put(worker)
