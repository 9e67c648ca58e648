"""A tiny real HTTP server (starlette + uvicorn on loopback) that answers from a script.

Tests queue answers per path (status, headers, JSON body, delay) and read back what arrived:
time, method, path, headers, form fields. Unscripted requests get the path's default answer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Arrival:
    at: float
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    json: Any
    file_names: list[str]


class ScriptedServer:
    def __init__(self) -> None:
        self.script: dict[str, deque[Answer]] = defaultdict(deque)
        self.defaults: dict[str, Answer] = {}
        self.arrivals: list[Arrival] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started:
            if time.time() > deadline:
                raise RuntimeError("scripted server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def queue(self, path: str, *answers: Answer) -> None:
        self.script[path].extend(answers)

    def arrivals_for(self, path: str) -> list[Arrival]:
        return [a for a in self.arrivals if a.path == path]

    async def _handle(self, request: Request) -> Response:
        at = time.time()
        path = request.url.path
        form: dict[str, str] = {}
        file_names: list[str] = []
        body_json: Any = None
        if request.method == "POST":
            if request.headers.get("content-type", "").startswith("multipart/"):
                parsed = await request.form()
                for key, value in parsed.items():
                    if isinstance(value, str):
                        form[key] = value
                    else:
                        file_names.append(f"{key}:{value.filename}:{len(await value.read())}")
            else:
                raw = await request.body()
                body_json = __import__("json").loads(raw) if raw else None
        with self._lock:
            self.arrivals.append(Arrival(at, request.method, path, dict(request.headers), form, body_json, file_names))
            answer = self.script[path].popleft() if self.script[path] else self.defaults.get(path, Answer())
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if answer.delay_s:
                await asyncio.sleep(answer.delay_s)
            body = answer.body if answer.body is not None else {"ok": True}
            if isinstance(body, bytes):
                return Response(body, status_code=answer.status, headers=answer.headers)
            return JSONResponse(body, status_code=answer.status, headers=answer.headers)
        finally:
            with self._lock:
                self.in_flight -= 1


def peak_rate(times: list[float], window_s: float = 1.0) -> int:
    """Most arrivals inside any window of ``window_s`` seconds (half-open)."""
    times = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best
