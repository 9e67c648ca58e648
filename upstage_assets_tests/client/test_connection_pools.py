"""The client's connections in small pools (``upstage_api/connection_pools.py``), on a real loopback
server: every connection the client is given is usable at once, whichever pool holds it, and the
pools close with the client."""

from __future__ import annotations

import asyncio

from upstage_assets.upstage_api.connection_pools import CONNECTIONS_PER_POOL
from upstage_assets_tests.client.conftest import make_http
from upstage_assets_tests.client.scripted_server import Answer

HELD_S = 5.0  # every answer waits this long: a request that waited for a connection arrives after it


def test_every_connection_is_usable_at_once_across_the_pools(server):
    connections = 2 * CONNECTIONS_PER_POOL + 3  # three pools, none full
    server.queue("/v1/held", *[Answer(body={"ok": True}, delay_s=HELD_S) for _ in range(connections)])
    http = make_http(server.url, max_connections=connections)
    assert http._pools.pools == 3

    async def all_at_once():
        try:
            return await asyncio.gather(*(http.get_json("/v1/held", endpoint="poll") for _ in range(connections)))
        finally:
            await http.aclose()

    answers = asyncio.run(all_at_once())
    assert answers == [{"ok": True}] * connections
    arrived = sorted(a.at for a in server.arrivals_for("/v1/held"))
    assert len(arrived) == connections
    assert arrived[-1] - arrived[0] < HELD_S, "a request waited for a connection another pool had free"


def test_the_client_works_again_on_a_new_event_loop_after_closing(server):
    http = make_http(server.url, max_connections=CONNECTIONS_PER_POOL + 1)
    server.queue("/v1/ping", Answer(body={"n": 1}), Answer(body={"n": 2}))

    async def once():
        try:
            return await http.get_json("/v1/ping", endpoint="poll")
        finally:
            await http.aclose()

    assert asyncio.run(once()) == {"n": 1}
    assert asyncio.run(once()) == {"n": 2}  # a pool's sockets belong to one loop: new pools here
