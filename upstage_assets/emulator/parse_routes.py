"""Document Parse and OCR handlers: sync, async submit, poll, list, and presigned downloads."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from upstage_assets.emulator.api_errors import ApiError
from upstage_assets.emulator.engine import inspect
from upstage_assets.emulator.settings import OCR, PARSE, PARSE_ASYNC, POLL
from upstage_assets.emulator.state import ApiCall, form_fields, read_document, read_form
from upstage_assets.emulator.wire import parse_options

OCR_SCHEMAS = ("clova", "google")


async def parse_sync(call: ApiCall, default_model: str | None = None, require_ocr: bool = False) -> Response:
    """POST /v1/document-digitization and its legacy forms."""
    settings = call.state.settings
    fields = form_fields(await read_form(call.request, settings.max_bytes))
    options = parse_options(fields, default_model=default_model)
    if require_ocr and not options.is_ocr:
        raise ApiError(400, f"invalid model name {options.model!r} for the OCR endpoint", "invalid_model_name")
    await call.admit(OCR if options.is_ocr else PARSE)
    schema = fields.get("schema")
    if options.is_ocr and isinstance(schema, str) and schema and schema not in OCR_SCHEMAS:
        raise ApiError(400, f"schema: expected clova or google, got {schema!r}", "invalid_parameter")
    data, _ = await read_document(fields)
    info = call.state.engine.inspect(data, max_bytes=settings.max_bytes, max_pages=settings.sync_max_pages,
                                     max_pixels=settings.max_pixels_per_page)
    call.admit_pages(info.page_count, document=data)
    result = await call.state.engine.parse(data, info.mime_type, options)
    if not options.is_ocr:
        result.setdefault("usage", {}).setdefault("pages", info.page_count)
    return JSONResponse(result)


async def parse_async_submit(call: ApiCall, default_model: str | None = None) -> Response:
    """POST /v1/document-digitization/async: problems with the request answer now; too many pages or a
    corrupt file only show later, as a failed job (as the latest docs describe)."""
    settings = call.state.settings
    fields = form_fields(await read_form(call.request, settings.async_max_bytes))
    options = parse_options(fields, default_model=default_model)
    await call.admit(PARSE_ASYNC)
    data, _ = await read_document(fields)
    failure = None
    pages = 0
    try:
        info = inspect(data, max_bytes=settings.async_max_bytes, max_pages=10**9,
                       max_pixels=settings.max_pixels_per_page)
        pages, mime_type = info.page_count, info.mime_type
    except ApiError as exc:
        if exc.status != 422:
            raise
        failure, mime_type = exc.message, "application/octet-stream"
    call.admit_pages(pages)
    job = call.state.parse_jobs.submit(data, mime_type, pages, options, failure)
    return JSONResponse({"request_id": job.id})


async def parse_poll(call: ApiCall) -> Response:
    await call.admit(POLL)
    jobs = call.state.parse_jobs
    job = jobs.get(call.request.path_params["request_id"])
    return JSONResponse(jobs.describe(job, str(call.request.base_url)))


async def parse_list(call: ApiCall) -> Response:
    await call.admit(POLL)
    return JSONResponse(call.state.parse_jobs.listing())


def download(request: Request) -> Response:
    """The presigned batch result: no auth, 403 once expired (S3's answer for an expired URL)."""
    state = request.app.state.emulator
    state.stats.record_route("/__emulator__/downloads/{token}")
    body = state.parse_jobs.download(request.path_params["token"])
    if body is None:
        state.stats.record_status(403)
        return Response(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
                        b"<Message>Request has expired</Message></Error>", status_code=403,
                        media_type="application/xml")
    state.stats.record_status(200)
    return Response(body, media_type="application/json")
