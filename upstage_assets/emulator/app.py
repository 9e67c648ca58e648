"""The Starlette app: the route table and the gate (auth, limits, faults, latency) around it.

Every API route requires ``Authorization: Bearer <key>``; downloads and ``/__emulator__/*``
are open, like presigned URLs and a test harness endpoint. Unknown paths and wrong methods
answer 404 / 405 in the same OpenAI-style error body as everything else.
"""

from __future__ import annotations

import contextlib
import gc
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from upstage_assets.emulator import classify_routes, extract_routes, parse_routes
from upstage_assets.emulator.api_errors import ApiError, error_response
from upstage_assets.emulator.faults import MALFORMED, TRUNCATED, malformed, truncated
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.emulator.state import ApiCall, EmulatorState, InjectedResponse

Handler = Callable[[ApiCall], Awaitable[Response]]
RATE_LIMIT_HEADER = "x-ratelimit-limit-requests"
logger = logging.getLogger(__name__)


def check_auth(state: EmulatorState, request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "Missing or malformed Authorization header: use 'Bearer <API key>'",
                       "invalid_api_key")
    expected = state.settings.api_key
    if expected is not None and not hmac.compare_digest(key.encode(), expected.encode()):
        raise ApiError(401, "Incorrect API key provided", "invalid_api_key")


def api_endpoint(path: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler in the gate; the path template names the route in the stats."""

    async def endpoint(request: Request) -> Response:
        state: EmulatorState = request.app.state.emulator
        state.stats.record_route(path)
        call = ApiCall(state, request)
        try:
            check_auth(state, request)
            response = await handler(call)
        except InjectedResponse as injected:
            response = injected.response
        except ApiError as exc:
            response = exc.response()
        except Exception as exc:  # a crashing engine answers this request with 500; the server lives on
            logger.exception("internal error answering %s", path)
            response = error_response(500, f"internal error while processing the request: {type(exc).__name__}",
                                      "internal_server_error")
        if call.group is not None and response.status_code != 429:
            await call.hold_for_latency()
        if call.group is not None and call.group in state.settings.rps_limits:
            # OpenAI-style: the request limit per minute (Upstage names its headers nowhere for certain)
            response.headers[RATE_LIMIT_HEADER] = f"{state.settings.rps_limits[call.group] * 60:g}"
        if call.fault is not None and call.fault.kind == MALFORMED:
            response = malformed(response)
        elif call.fault is not None and call.fault.kind == TRUNCATED:
            response = truncated(response)
        state.stats.record_status(response.status_code)
        if call.document_sha256 and call.group and response.status_code == 200 and call.fault is None:
            state.stats.record_billed_document(call.document_sha256, call.group, call.pages)
        return response

    return endpoint


WARM_PREFIX = "/__emulator__/warm"


def warm_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Benchmark mode: the same handler outside limits, faults, latency and stats, to fill the cache."""

    async def endpoint(request: Request) -> Response:
        state: EmulatorState = request.app.state.emulator
        call = ApiCall(state, request, gated=False)
        try:
            check_auth(state, request)
            return await handler(call)
        except ApiError as exc:
            return exc.response()
        finally:
            # What warm-up computed stays until the end: out of the collector's reach, its full
            # collections no longer stall the server 30-110 ms and bunch the arrivals it stamps.
            gc.freeze()

    return endpoint


def warm_routes() -> list[Route]:
    """``POST /__emulator__/warm/<API path>`` for the sync parse and extraction routes."""
    return [Route(WARM_PREFIX + path, warm_endpoint(handler), methods=["POST"])
            for path, handler, method in api_route_table()
            if method == "POST" and "async" not in path and "schema-generation" not in path]


def api_routes() -> list[Route]:
    return [Route(path, api_endpoint(path, handler), methods=[method]) for path, handler, method in api_route_table()]


def api_route_table() -> list[tuple[str, Handler, str]]:
    p, x = parse_routes, extract_routes
    table: list[tuple[str, Handler, str]] = [
        ("/v1/document-digitization", p.parse_sync, "POST"),
        ("/v1/document-ai/document-parse", partial(p.parse_sync, default_model="document-parse"), "POST"),
        ("/v1/document-ai/layout-analysis", partial(p.parse_sync, default_model="document-parse"), "POST"),
        ("/v1/document-ai/ocr", partial(p.parse_sync, default_model="ocr", require_ocr=True), "POST"),
        ("/v1/document-digitization/async", p.parse_async_submit, "POST"),
        ("/v1/document-ai/async/document-parse",
         partial(p.parse_async_submit, default_model="document-parse"), "POST"),
        ("/v1/document-digitization/requests", p.parse_list, "GET"),
        ("/v1/document-digitization/requests/{request_id}", p.parse_poll, "GET"),
        ("/v1/document-ai/requests/{request_id}", p.parse_poll, "GET"),
        ("/v1/document-ai/requests", p.parse_list, "GET"),
        ("/v1/information-extraction", x.extract, "POST"),
        ("/v1/information-extraction/chat/completions", x.extract, "POST"),
        ("/v1/information-extraction/schema-generation", x.generate_schema, "POST"),
        ("/v1/information-extraction/schema-generation/chat/completions", x.generate_schema, "POST"),
        ("/v1/document-ai/extraction", x.prebuilt_legacy, "POST"),
        ("/v1/information-extraction/async", x.extract_async_submit, "POST"),
        ("/v1/information-extraction/jobs", x.extract_jobs_list, "GET"),
        ("/v1/information-extraction/jobs/{job_id}", x.extract_job_poll, "GET"),
        ("/v1/document-classification", classify_routes.classify, "POST"),
        ("/v1/document-classification/chat/completions", classify_routes.classify, "POST"),
    ]
    return table


def stats_endpoint(request: Request) -> Response:
    """``?per_document=false``: the counters without each document's billing (see ``snapshot``)."""
    per_document = request.query_params.get("per_document", "true").lower() not in ("false", "0", "no")
    return JSONResponse(request.app.state.emulator.stats.snapshot(per_document=per_document))


def reset_stats_endpoint(request: Request) -> Response:
    request.app.state.emulator.stats.reset()
    return JSONResponse({"reset": True})


async def http_error(request: Request, exc: Exception) -> Response:
    """404 and 405 in the API's error body instead of Starlette's plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if hasattr(request.app.state, "emulator"):
        request.app.state.emulator.stats.record_route("<unknown>" if status == 404 else request.url.path)
        request.app.state.emulator.stats.record_status(status)
    message = {404: f"Not found: {request.method} {request.url.path}",
               405: f"Method {request.method} not allowed for {request.url.path}"}.get(status, "error")
    return error_response(status, message, {404: "not_found", 405: "method_not_allowed"}.get(status))


def create_app(settings: EmulatorSettings | None = None) -> Starlette:
    settings = settings or EmulatorSettings()
    state = EmulatorState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.parse_jobs.close()
            await state.extract_jobs.close()
            state.engine.close()

    routes = [
        *api_routes(),
        Route("/__emulator__/downloads/{token}", parse_routes.download, methods=["GET"]),
        Route("/__emulator__/stats", stats_endpoint, methods=["GET"]),
        Route("/__emulator__/stats/reset", reset_stats_endpoint, methods=["POST"]),
        *(warm_routes() if settings.benchmark_mode else []),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.emulator = state
    return app
