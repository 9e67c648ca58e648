"""Information Extraction on the local engine: request decoding, schema rules, real results.

Shared by the sync chat route, the async jobs, schema generation and the prebuilt models.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import httpx

from upstage_assets.emulator.api_errors import ApiError
from upstage_assets.emulator.engine import Engine
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.emulator.wire import ResolvedParseRequest
from upstage_assets.schemas.extraction import SchemaError, validate_schema

IE_MODEL_ALIASES = ("information-extract",)
SCHEMA_GENERATE_MODEL = "schema-generate"
FULL_PARSE = ResolvedParseRequest(model="document-parse", output_formats=("html", "markdown", "text"))


def check_ie_model(model: Any) -> str:
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model is required: use information-extract", "invalid_model_name")
    if model in IE_MODEL_ALIASES or model.startswith("information-extract-"):
        return model
    raise ApiError(400, f"invalid model name {model!r}", "invalid_model_name")


async def document_urls(messages: Any, max_documents: int) -> list[bytes]:
    """The files in the user message's image_url parts (data URLs, or http(s) on loopback)."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", "invalid_request")
    urls: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                image_url = part.get("image_url")
                url = image_url.get("url") if isinstance(image_url, dict) else image_url
                if isinstance(url, str):
                    urls.append(url)
    if not urls:
        raise ApiError(400, "no document: add an image_url part with a data URL or https URL", "no_document")
    if len(urls) > max_documents:
        raise ApiError(400, f"at most {max_documents} documents per request, got {len(urls)}", "invalid_request")
    return [await fetch_document(url) for url in urls]


async def fetch_document(url: str) -> bytes:
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        if not header.endswith(";base64"):
            raise ApiError(400, "data URLs must be base64-encoded", "invalid_document_url")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "the data URL is not valid base64", "invalid_document_url") from None
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and _is_loopback(parts.hostname or ""):
        async with httpx.AsyncClient(timeout=30.0) as client:
            response = await client.get(url)
        if response.status_code != 200:
            raise ApiError(400, f"cannot fetch the document URL: HTTP {response.status_code}",
                           "invalid_document_url")
        return response.content
    raise ApiError(400, "the emulator reads data URLs and loopback http(s) URLs only", "invalid_document_url")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_response_format(value: Any) -> dict[str, Any]:
    """Accept the full response_format, a bare json_schema {name, schema}, or a bare schema."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ApiError(400, "schema is not valid JSON", "invalid_schema") from None
    if not isinstance(value, dict):
        raise ApiError(400, "response_format must be a json_schema object", "invalid_schema")
    if value.get("type") == "json_schema":
        return value
    if "schema" in value and isinstance(value["schema"], dict):
        return {"type": "json_schema", "json_schema": value}
    return {"type": "json_schema", "json_schema": {"name": "schema", "schema": value}}


def check_schema(response_format: dict[str, Any], *, max_properties: int, max_chars: int) -> None:
    """The API's schema rules (contract section 4); violations are 400s."""
    try:
        validate_schema(response_format)
    except SchemaError as exc:
        raise ApiError(400, f"invalid schema: {exc}", "invalid_schema") from None
    schema = response_format["json_schema"]["schema"]
    chars = len(json.dumps(schema))
    if chars > max_chars:
        raise ApiError(400, f"invalid schema: {chars:,} characters; the limit is {max_chars:,}", "invalid_schema")
    count = _count_properties(schema)
    if count > max_properties:
        raise ApiError(400, f"invalid schema: {count} properties; the limit is {max_properties}", "invalid_schema")


def _count_properties(schema: Any) -> int:
    if not isinstance(schema, dict):
        return 0
    properties = schema.get("properties") or {}
    total = len(properties) + sum(_count_properties(p) for p in properties.values())
    return total + _count_properties(schema.get("items"))


async def parse_for_extraction(settings: EmulatorSettings, engine: Engine, data: bytes,
                               max_pages: int) -> tuple[dict[str, Any], int]:
    """Inspect with the IE limits and run a full Document Parse; returns (parse response, pages)."""
    info = engine.inspect(data, max_bytes=settings.ie_max_bytes, max_pages=max_pages,
                          max_pixels=settings.max_pixels_per_page)
    return await engine.parse(data, info.mime_type, FULL_PARSE), info.page_count


async def extract_document(settings: EmulatorSettings, engine: Engine, data: bytes, response_format: dict[str, Any],
                           *, location: bool, confidence: bool, max_pages: int) -> dict[str, Any]:
    parse_response, pages = await parse_for_extraction(settings, engine, data, max_pages)
    result = await engine.extract(parse_response, response_format, location=location, confidence=confidence,
                                  document_sha256=hashlib.sha256(data).hexdigest())
    return complete_chat(result, settings.ie_snapshot)


def complete_chat(result: dict[str, Any], model: str) -> dict[str, Any]:
    """Fill the chat.completion envelope fields the engine may leave out."""
    result.setdefault("id", "iex-" + secrets.token_urlsafe(12))
    result.setdefault("object", "chat.completion")
    result.setdefault("created", 0)
    result["model"] = model
    result.setdefault("usage", {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
    return result


def chat_completion(content: str, model: str) -> dict[str, Any]:
    return complete_chat({"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                       "finish_reason": "stop"}]}, model)


LABEL_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 ./#&()-]{1,40}?)\s*[:：]\s*(\S.*)$")


def schema_from_parse(parse_responses: list[dict[str, Any]], intent: str = "") -> dict[str, Any]:
    """A response_format built from the documents' 'Label: value' lines and tables."""
    properties: dict[str, dict[str, Any]] = {}
    for response in parse_responses:
        for element in response.get("elements", []):
            text = (element.get("content") or {}).get("text") or ""
            if element.get("category") == "table" and "line_items" not in properties:
                properties["line_items"] = {"type": "array", "description": "Rows of the document's table",
                                            "items": {"type": "object", "properties": {
                                                "description": {"type": "string"},
                                                "amount": {"type": "number"}}}}
                continue
            for line in text.splitlines():
                match = LABEL_LINE.match(line)
                if not match:
                    continue
                label, value = match.group(1).strip(), match.group(2).strip()
                name = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
                if name and name not in properties:
                    numeric = re.fullmatch(r"[-+$€£]?\s?[\d,]+(\.\d+)?", value) is not None
                    properties[name] = {"type": "number" if numeric else "string",
                                        "description": f"The value labelled '{label}'"}
    if not properties:
        properties["title"] = {"type": "string", "description": "The document's title"}
    description = intent.strip() or "Fields found in the sample documents"
    return {"type": "json_schema", "json_schema": {"name": "document_schema", "schema": {
        "type": "object", "description": description, "properties": properties}}}
