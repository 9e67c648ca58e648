"""The client's connections in small pools (``upstage_api/connection_pools.py``), on a real loopback
server: every connection the client is given is usable at once, whichever pool holds it, the
pools close with the client, and a small body goes out in one piece."""

from __future__ import annotations

import asyncio

import httpx

from upstage_assets.upstage_api.connection_pools import (
    CONNECTIONS_PER_POOL,
    ONE_BUFFER_BODY_MAX_BYTES,
    ConnectionPools,
)
from upstage_assets.upstage_api.document_parse import DocumentParseApi, parse_form
from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument
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


def multipart_request(pools: ConnectionPools, document: bytes) -> httpx.Request:
    form = parse_form(ParseOptions())
    return asyncio.run(_build(pools, form, document))


async def _build(pools: ConnectionPools, form: dict[str, str], document: bytes) -> httpx.Request:
    try:
        return pools.build_request("POST", "http://127.0.0.1:9/v1/document-digitization", data=form,
                                   files={"document": ("a.pdf", document, "application/pdf")})
    finally:
        await pools.aclose()


def test_a_document_parse_request_goes_out_in_one_piece(server):
    """httpx renders a multipart form as dozens of pieces, each its own socket write; the pools join a
    small body into one. The wire form is unchanged: the server reads every field and the file."""
    pools = ConnectionPools(4, httpx.Timeout(5.0), {})
    streamed = httpx.Request("POST", "http://127.0.0.1:9/", data=parse_form(ParseOptions()),
                             files={"document": ("a.pdf", b"%PDF-1.4 body", "application/pdf")})
    assert len(list(streamed.stream)) > 10  # what httpx does on its own

    request = multipart_request(pools, b"%PDF-1.4 body")
    pieces = list(request.stream)
    assert len(pieces) == 1
    assert int(request.headers["content-length"]) == len(pieces[0])

    server.defaults["/v1/document-digitization"] = Answer(200, {"elements": [], "api": "1.1"})
    api = DocumentParseApi(make_http(server.url))
    asyncio.run(api.parse(SourceDocument("d1", "a.pdf", b"%PDF-1.4 body", "application/pdf", 1), ParseOptions()))
    sent = server.arrivals_for("/v1/document-digitization")[0]
    assert sent.form == parse_form(ParseOptions())
    assert sent.file_names == ["document:a.pdf:13"]


def test_a_large_body_stays_streamed_rather_than_copied():
    pools = ConnectionPools(4, httpx.Timeout(5.0), {})
    request = multipart_request(pools, b"%" * (ONE_BUFFER_BODY_MAX_BYTES + 1))
    assert len(list(request.stream)) > 1
