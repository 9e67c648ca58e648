"""Information Extraction handlers: chat-form IE, schema generation, prebuilt models, async jobs."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response

from upstage_assets.emulator.api_errors import ApiError
from upstage_assets.emulator.engine import extract_fields_guarded, inspect, split_pages
from upstage_assets.emulator.extraction import (
    SCHEMA_GENERATE_MODEL,
    chat_completion,
    check_ie_model,
    check_schema,
    document_urls,
    extract_document,
    normalize_response_format,
    parse_for_extraction,
    schema_from_parse,
)
from upstage_assets.emulator.prebuilt import prebuilt_response, prebuilt_schema
from upstage_assets.emulator.settings import EXTRACT, EXTRACT_ASYNC, POLL, PREBUILT, SCHEMA_GENERATION
from upstage_assets.emulator.state import ApiCall, form_fields, read_document, read_form
from upstage_assets.emulator.wire import parse_bool_field

SYNC_MAX_PROPERTIES, SYNC_MAX_SCHEMA_CHARS = 100, 15_000
ASYNC_MAX_PROPERTIES, ASYNC_MAX_SCHEMA_CHARS = 5_000, 120_000
MAX_SCHEMA_SAMPLES = 3


async def read_json(call: ApiCall) -> dict[str, Any]:
    limit = call.state.settings.ie_max_bytes * 4 // 3 + 1024 * 1024  # base64 inflates by a third
    declared = call.request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "document too large: the request body exceeds the limit", "document_too_large")
    try:
        body = json.loads(await call.request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "the request body is not valid JSON", "invalid_request") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_request")
    return body


def _is_multipart(call: ApiCall) -> bool:
    return call.request.headers.get("content-type", "").startswith(("multipart/", "application/x-www-form"))


async def extract(call: ApiCall) -> Response:
    """POST /v1/information-extraction: JSON chat form, or multipart for the prebuilt models."""
    if _is_multipart(call):
        return await prebuilt(call)
    body = await read_json(call)
    if body.get("model") == SCHEMA_GENERATE_MODEL:
        return await _generate_schema(call, body)
    check_ie_model(body.get("model"))
    await call.admit(EXTRACT)
    response_format = normalize_response_format(body.get("response_format"))
    check_schema(response_format, max_properties=SYNC_MAX_PROPERTIES, max_chars=SYNC_MAX_SCHEMA_CHARS)
    location = parse_bool_field("location", _flag(body.get("location")), False)
    confidence = parse_bool_field("confidence", _flag(body.get("confidence")), False)
    (data,) = await document_urls(body.get("messages"), max_documents=1)
    settings = call.state.settings
    call.admit_pages(call.state.engine.inspect(data, max_bytes=settings.ie_max_bytes,
                                               max_pages=settings.ie_sync_max_pages,
                                               max_pixels=settings.max_pixels_per_page).page_count, document=data)
    result = await extract_document(call.state.settings, call.state.engine, data, response_format, location=location,
                                    confidence=confidence, max_pages=settings.ie_sync_max_pages)
    return JSONResponse(result)


def _flag(value: Any) -> str | bool | None:
    return value if value is None or isinstance(value, bool | str) else str(value)


async def generate_schema(call: ApiCall) -> Response:
    """POST /v1/information-extraction/schema-generation (and its /chat/completions form)."""
    body = await read_json(call)
    model = body.get("model")
    if model != SCHEMA_GENERATE_MODEL:
        check_ie_model(model)
    return await _generate_schema(call, body)


async def _generate_schema(call: ApiCall, body: dict[str, Any]) -> Response:
    await call.admit(SCHEMA_GENERATION)
    messages = body.get("messages")
    documents = await document_urls(messages, max_documents=MAX_SCHEMA_SAMPLES)
    intent = ""
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and message.get("role") == "system" and isinstance(message.get("content"), str):
            intent = message["content"]
    settings = call.state.settings
    parsed = []
    for data in documents:
        response, pages = await parse_for_extraction(call.state.settings, call.state.engine, data, settings.ie_sync_max_pages)
        call.pages += pages
        parsed.append(response)
    content = json.dumps(schema_from_parse(parsed, intent))
    return JSONResponse(chat_completion(content, settings.ie_snapshot))


async def prebuilt(call: ApiCall) -> Response:
    """Multipart ``document`` + ``model=receipt-extraction`` etc.; pages after the 30th are ignored."""
    settings = call.state.settings
    fields = form_fields(await read_form(call.request, settings.ie_max_bytes))
    model = fields.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model is required, e.g. receipt-extraction", "invalid_model_name")
    schema = prebuilt_schema(model)
    await call.admit(PREBUILT)
    data, _ = await read_document(fields)
    info = inspect(data, max_bytes=settings.ie_max_bytes, max_pages=10**9, max_pixels=settings.max_pixels_per_page)
    billed = min(info.page_count, settings.prebuilt_max_pages)
    call.admit_pages(billed)
    if info.page_count > billed:
        data = await call.state.engine.run(split_pages, data, info.mime_type, 1, billed)
    parse_response, _ = await parse_for_extraction(call.state.settings, call.state.engine, data, settings.prebuilt_max_pages)
    extracted = await call.state.engine.run(extract_fields_guarded, parse_response, schema)
    return JSONResponse(prebuilt_response(model, schema, extracted, info.page_count, billed))


async def prebuilt_legacy(call: ApiCall) -> Response:
    """POST /v1/document-ai/extraction (cookbook): the same multipart prebuilt request."""
    return await prebuilt(call)


async def extract_async_submit(call: ApiCall) -> Response:
    """POST /v1/information-extraction/async: repeated ``documents``, ``model``, ``schema`` (JSON)."""
    settings = call.state.settings
    form = await read_form(call.request, settings.ie_max_bytes * settings.ie_async_max_documents)
    fields = form_fields(form)
    check_ie_model(fields.get("model"))
    raw_schema = fields.get("schema")
    if not isinstance(raw_schema, str):
        raise ApiError(400, "schema is required (the JSON schema as a string)", "invalid_schema")
    response_format = normalize_response_format(raw_schema)
    check_schema(response_format, max_properties=ASYNC_MAX_PROPERTIES, max_chars=ASYNC_MAX_SCHEMA_CHARS)
    await call.admit(EXTRACT_ASYNC)
    uploads = [value for name, value in form.multi_items() if name in ("documents", "document")]
    if not uploads:
        raise ApiError(400, "no document: send one or more 'documents' file parts", "no_document")
    if len(uploads) > settings.ie_async_max_documents:
        raise ApiError(400, f"at most {settings.ie_async_max_documents} documents per job, got {len(uploads)}",
                       "invalid_request")
    documents = []
    for upload in uploads:
        data, name = await read_document({"document": upload})
        documents.append((name, data))
    job = call.state.extract_jobs.submit(documents, response_format)
    return JSONResponse({"job_id": job.job_id})


async def extract_job_poll(call: ApiCall) -> Response:
    await call.admit(POLL)
    with_result = parse_bool_field("with_result", call.request.query_params.get("with_result"), False)
    job = call.state.extract_jobs.get(call.request.path_params["job_id"])
    return JSONResponse(job.describe(with_result))


async def extract_jobs_list(call: ApiCall) -> Response:
    await call.admit(POLL)
    return JSONResponse(call.state.extract_jobs.listing())
