"""Information Extraction over HTTP (contract sections 4 and 6).

Universal extraction is a chat-completions JSON call: the document travels as a base64 data
URL, the schema as ``response_format``. With ``location`` or ``confidence`` on, the answer
carries an ``additional_values`` tool call whose arguments (a JSON string, or an object in
some examples) give each value's page, box and confidence; they become the per-field view the
pipeline stores: ``{name: {value, confidence, page, coordinates}}``. Prebuilt models
(``receipt-extraction`` ...) are a multipart call with a flat ``fields`` list instead.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from upstage_assets.schemas.extraction import ExtractionSchema
from upstage_assets.upstage_api.document_parse import upload_filename
from upstage_assets.upstage_api.errors import UpstageProtocolError
from upstage_assets.upstage_api.http import UpstageHttp
from upstage_assets.upstage_api.parser import ExtractionResult, SourceDocument
from upstage_assets.upstage_api.usage import pages_billed

IE_PATH = "/v1/information-extraction"
CONFIDENCE_WORDS = {"high": 0.9, "medium": 0.6, "low": 0.3}
PREBUILT_MODELS = (
    "receipt-extraction",
    "air-waybill-extraction",
    "bill-of-lading-and-shipping-request-extraction",
    "commercial-invoice-and-packing-list-extraction",
    "kr-export-declaration-certificate-extraction",
)


@dataclass(frozen=True)
class ExtractionOptions:
    """The optional (Beta) request fields; ``pages_per_chunk`` ``None`` leaves the server default."""

    model: str = "information-extract"
    mode: str = "standard"
    location: bool = True
    location_granularity: str = "element"
    confidence: bool = True
    split: bool = False
    pages_per_chunk: int | None = None


def data_url(document: SourceDocument) -> str:
    return f"data:{document.mime_type};base64,{base64.b64encode(document.data).decode('ascii')}"


def build_request(document: SourceDocument, schema: ExtractionSchema, options: ExtractionOptions) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": options.model,
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": data_url(document)}}]}],
        "response_format": schema.response_format,
        "mode": options.mode,
        "location": options.location,
        "location_granularity": options.location_granularity,
        "confidence": options.confidence,
        "split": options.split,
    }
    if options.pages_per_chunk:
        body["chunking"] = {"pages_per_chunk": options.pages_per_chunk}
    return body


def confidence_value(raw: Any) -> float | None:
    """``high``/``low`` words become 0.9/0.3; numbers are kept; anything else is unknown."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in CONFIDENCE_WORDS:
            return CONFIDENCE_WORDS[word]
        try:
            return float(word)
        except ValueError:
            return None
    return None


def tool_arguments(message: dict[str, Any]) -> dict[str, Any]:
    """The ``additional_values`` arguments as a dict, whether sent as a JSON string or an object."""
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        if function.get("name") != "additional_values":
            continue
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError as exc:
                raise UpstageProtocolError("additional_values arguments are not JSON",
                                           path=IE_PATH) from exc
        if isinstance(arguments, dict):
            return arguments
    return {}


def _located_leaves(node: Any) -> list[dict[str, Any]]:
    """Every ``{_value, page, ...}`` object under ``node`` (array fields nest them)."""
    if isinstance(node, dict):
        if "_value" in node:
            return [node]
        return [leaf for child in node.values() for leaf in _located_leaves(child)]
    if isinstance(node, list):
        return [leaf for child in node for leaf in _located_leaves(child)]
    return []


def field_view(value: Any, extra: Any) -> dict[str, Any]:
    """One field's stored view. Array fields take the lowest confidence and first page of their items."""
    view: dict[str, Any] = {"value": value, "confidence": None, "page": None, "coordinates": None}
    if isinstance(extra, dict) and "_value" in extra:
        if value is None:
            view["value"] = extra["_value"]
        view["confidence"] = confidence_value(extra.get("confidence"))
        view["page"] = extra.get("page")
        view["coordinates"] = extra.get("coordinates")
        return view
    leaves = _located_leaves(extra)
    confidences = [c for c in (confidence_value(leaf.get("confidence")) for leaf in leaves) if c is not None]
    pages = [leaf["page"] for leaf in leaves if isinstance(leaf.get("page"), int)]
    view["confidence"] = min(confidences) if confidences else None
    view["page"] = min(pages) if pages else None
    return view


def fields_from_response(response: dict[str, Any], schema: ExtractionSchema) -> dict[str, dict[str, Any]]:
    """Per-field view of a chat.completion answer, one entry per schema property (``None`` when absent)."""
    try:
        message = response["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise UpstageProtocolError("Information Extraction answered without choices[0].message",
                                   path=IE_PATH) from exc
    content = message.get("content") or "{}"
    if isinstance(content, str):
        try:
            values = json.loads(content)
        except ValueError as exc:
            raise UpstageProtocolError("Information Extraction content is not JSON", path=IE_PATH) from exc
    else:
        values = content
    if not isinstance(values, dict):
        raise UpstageProtocolError("Information Extraction content is not a JSON object", path=IE_PATH)
    extras = tool_arguments(message)
    names = list(schema.properties) + [n for n in values if n not in schema.properties]
    return {name: field_view(values.get(name), extras.get(name)) for name in names}


def prebuilt_fields(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Prebuilt ``fields[]`` (dotted keys, nested ``properties``) flattened to the same view."""
    fields: dict[str, dict[str, Any]] = {}

    def add(key: str, item: dict[str, Any]) -> None:
        boxes = item.get("boundingBoxes") or []
        first_box = boxes[0] if boxes and isinstance(boxes[0], dict) else {}
        fields[key] = {"value": item.get("refinedValue", item.get("value")),
                       "confidence": confidence_value(item.get("confidence")),
                       "page": first_box.get("page"), "coordinates": first_box.get("vertices")}
        for prop in item.get("properties") or []:
            add(f"{key}.{prop.get('key')}", prop)

    for item in response.get("fields") or []:
        add(str(item.get("key")), item)
    return fields


class InformationExtractionApi:
    def __init__(self, http: UpstageHttp, options: ExtractionOptions | None = None):
        self.http = http
        self.options = options or ExtractionOptions()

    async def extract(self, document: SourceDocument, schema: ExtractionSchema,
                      options: ExtractionOptions | None = None) -> ExtractionResult:
        options = options or self.options
        def check(body: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
            if not isinstance(body, dict):
                raise UpstageProtocolError("Information Extraction answered with a non-object", path=IE_PATH)
            return body, fields_from_response(body, schema)

        body, fields = await self.http.request_json(
            "POST", IE_PATH, endpoint="information-extraction", pages=document.page_count,
            json=build_request(document, schema, options), decode=check)
        return ExtractionResult(
            response=body, fields=fields,
            pages_billed=pages_billed(body, document.page_count),
            extra={"model": body.get("model"), "choices": len(body.get("choices") or [])})

    async def extract_prebuilt(self, document: SourceDocument, model: str = "receipt-extraction") -> ExtractionResult:
        """Multipart ``document`` + ``model`` against a prebuilt extractor (at most 30 pages are read)."""
        def check(body: Any) -> dict[str, Any]:
            if not isinstance(body, dict) or not isinstance(body.get("fields"), list):
                raise UpstageProtocolError("prebuilt extraction answered without fields[]", path=IE_PATH)
            return body

        body: dict[str, Any] = await self.http.request_json(
            "POST", IE_PATH, endpoint="information-extraction", pages=min(document.page_count, 30),
            data={"model": model},
            files={"document": (upload_filename(document), document.data, document.mime_type)}, decode=check)
        return ExtractionResult(
            response=body, fields=prebuilt_fields(body),
            pages_billed=pages_billed(body, min(document.page_count, 30)),
            extra={"model": body.get("modelVersion") or model, "document_type": body.get("documentType")})
