"""A loopback HTTP proxy in front of a real S3 API (moto server) that fails a share of requests.

No client patching: boto3 is pointed at the proxy's URL and sees exactly what a flaky network
or an overloaded S3 does to it. Faults, drawn from a seeded stream per request:

- ``slow_down``: 503 SlowDown without forwarding (S3 throttling);
- ``error_after_commit``: forwarded (the object IS written), then 500 InternalError, so the
  client retries a request that already took effect;
- ``reset``: the request is read, then the connection is closed without an answer;
- ``truncated_body``: a GET is forwarded and half its body sent before the connection closes.

Nothing about the request is logged (its headers carry the caller's access key id).
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("slow_down", "error_after_commit", "reset", "truncated_body")
SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")
INTERNAL = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
            b"<Message>We encountered an internal error. Please try again.</Message></Error>")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class FaultProxy:
    """``with FaultProxy(moto_url, rate=0.2, seed=1) as proxy: S3Resource(endpoint_url=proxy.url)``."""

    def __init__(self, upstream: str, *, rate: float, seed: int = 0, faults: tuple[str, ...] = FAULTS):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rate = rate
        self.faults = faults
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="s3-fault-proxy", daemon=True)

    def draw(self, method: str) -> str | None:
        with self._lock:
            self.requests += 1
            if self._rng.random() >= self.rate:
                return None
            kinds = [f for f in self.faults if f != "truncated_body" or method == "GET"]
            fault = kinds[int(self._rng.random() * len(kinds))]
            self.injected[fault] += 1
            return fault

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - never log requests
                return

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    if body or self.command in ("PUT", "POST"):
                        headers["Content-Length"] = str(len(body))
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    return response.status, response.getheaders(), response.read()
                finally:
                    connection.close()

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes, *,
                        send_bytes: int | None = None) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body if send_bytes is None else body[:send_bytes])
                self.wfile.flush()

            def _handle(self) -> None:
                body = self._body()
                fault = proxy.draw(self.command)
                if fault == "slow_down":
                    self._answer(503, [("Content-Type", "application/xml")], SLOW_DOWN)
                    return
                if fault == "reset":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, headers, answer = self._forward(body)
                if fault == "error_after_commit":
                    self._answer(500, [("Content-Type", "application/xml")], INTERNAL)
                elif fault == "truncated_body" and len(answer) > 1:
                    self._answer(status, headers, answer, send_bytes=len(answer) // 2)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                else:
                    self._answer(status, headers, answer)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        return Handler
