"""Run the emulator on loopback in a background thread: for tests, benchmarks and demos.

    handle = run_emulator_in_thread(EmulatorSettings(fault_rate_429=0.2, seed=7))
    client = UpstageClient(base_url=handle.url, ...)
    ...
    handle.stop()

Port 0 picks a free port; ``handle.url`` is known before the function returns.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from upstage_assets.emulator.app import create_app
from upstage_assets.emulator.settings import EmulatorSettings


class _QuietFaults(logging.Filter):
    """Injected truncations end a response early on purpose; don't log them as server errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "returned without completing response" not in message and \
            "Response content shorter than Content-Length" not in message


class _QuietShutdown(logging.Filter):
    """On SIGTERM uvicorn cancels the requests still held (latency, slow engine) after its grace
    period; each would print a CancelledError traceback. A shutdown is not an error: one line says
    how many requests were cut short, and no trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError):
            return False  # the "Cancel N running task(s)" line before it already said so
        if "timeout graceful shutdown exceeded" in record.getMessage():
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def build_server(settings: EmulatorSettings, host: str, sock: socket.socket,
                 log_level: str = "warning") -> tuple[uvicorn.Server, Starlette]:
    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=sock.getsockname()[1], log_level=log_level,
                            access_log=False, lifespan="on", timeout_graceful_shutdown=2,
                            timeout_keep_alive=30)
    logger = logging.getLogger("uvicorn.error")
    for quiet in (_QuietFaults, _QuietShutdown):
        if not any(isinstance(f, quiet) for f in logger.filters):
            logger.addFilter(quiet())
    return uvicorn.Server(config), app


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@dataclass
class EmulatorHandle:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Starlette

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_emulator_in_thread(settings: EmulatorSettings | None = None, host: str = "127.0.0.1",
                           port: int = 0, startup_timeout_s: float = 10.0) -> EmulatorHandle:
    """Start uvicorn in a daemon thread and wait until it accepts connections."""
    sock = bind(host, port)
    server, app = build_server(settings or EmulatorSettings(), host, sock)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="upstage-emulator",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the Upstage emulator did not start")
        time.sleep(0.01)
    return EmulatorHandle(f"http://{host}:{sock.getsockname()[1]}", server, thread, app)
