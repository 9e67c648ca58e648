"""The client's connections, split into small httpx pools.

httpcore places a request by scanning every connection of its pool, and asks each idle one whether
its socket has closed, each time a request arrives or a response ends: the cost per request grows
with the pool's size times the requests waiting in it. With 48 connections (40 requests/s per
endpoint at 300 ms) the bare client spent 41 ms of CPU per document, twice what it spent at 20
requests/s with 24, and that one event-loop thread became the limit (``bench/results/throughput.md``).
Pools of at most ``CONNECTIONS_PER_POOL`` keep that scan short; a request goes to the pool with the
fewest requests in flight, so none waits for a connection while another pool has one free.
"""

from __future__ import annotations

import asyncio
import functools
import math
import ssl

import httpx

CONNECTIONS_PER_POOL = 8
# Bodies up to this size are sent from one buffer. httpx streams a multipart form a piece at a time:
# a Document Parse request is 37 pieces, and each is a socket write behind an anyio cancel scope.
# That cost 6-7% of a run worker's CPU at 40 requests/s. Larger bodies stay streamed, not copied.
ONE_BUFFER_BODY_MAX_BYTES = 8 * 1024 * 1024


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context per process: httpx builds one per client otherwise, loading the CA bundle
    each time (about 0.1 s of CPU), which for a client's six pools cost each step 0.6 s."""
    return httpx.create_ssl_context()


class ConnectionPools:
    """``max_connections`` connections for one event loop, in pools of at most ``CONNECTIONS_PER_POOL``."""

    def __init__(self, max_connections: int, timeout: httpx.Timeout, headers: dict[str, str]):
        self.pools = max(1, math.ceil(max_connections / CONNECTIONS_PER_POOL))
        per_pool = math.ceil(max_connections / self.pools)
        self.limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        self.timeout, self.headers = timeout, headers
        self._clients: list[httpx.AsyncClient] = []
        self._in_flight: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def _ready(self) -> list[httpx.AsyncClient]:
        """The pools of the running loop (a pool's sockets belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or not self._clients or any(c.is_closed for c in self._clients):
            self._clients = [httpx.AsyncClient(timeout=self.timeout, limits=self.limits, headers=self.headers,
                                               verify=shared_ssl_context())
                             for _ in range(self.pools)]
            self._in_flight = [0] * self.pools
            self._loop = loop
        return self._clients

    def build_request(self, method: str, url: str, **kwargs: object) -> httpx.Request:
        """The request, its body in one buffer when it is small enough (``ONE_BUFFER_BODY_MAX_BYTES``)."""
        request = self._ready()[0].build_request(method, url, **kwargs)  # type: ignore[arg-type]
        length = request.headers.get("content-length")
        if (length is not None and int(length) <= ONE_BUFFER_BODY_MAX_BYTES
                and not isinstance(request.stream, httpx.ByteStream)):
            request.read()  # joins the pieces; httpx then sends them as one ByteStream
        return request

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send on the least busy pool; the response is read whole, so its connection is free after."""
        clients, in_flight = self._ready(), self._in_flight  # the counts of these pools, even if closed meanwhile
        index = min(range(len(clients)), key=in_flight.__getitem__)
        in_flight[index] += 1
        try:
            return await clients[index].send(request)
        finally:
            in_flight[index] -= 1

    async def aclose(self) -> None:
        if self._clients and self._loop is asyncio.get_running_loop():
            for client in self._clients:
                await client.aclose()
        self._clients, self._in_flight, self._loop = [], [], None
