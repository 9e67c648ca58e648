"""Document Classification (contract section 6b), answered by the local classifier.

``POST /v1/document-classification`` (and its ``/chat/completions`` form): the document as a
data URL, the labels as ``response_format.json_schema.schema.oneOf``; the answer is a
chat.completion whose content is the chosen label. The emulator parses the document with the
local engine and picks the label with ``local_engine.classify`` over the labels' names and
descriptions, so routing by class can be tested end to end without the real API.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from upstage_assets.emulator.api_errors import ApiError
from upstage_assets.emulator.engine import inspect
from upstage_assets.emulator.extract_routes import read_json
from upstage_assets.emulator.extraction import chat_completion, document_urls, parse_for_extraction
from upstage_assets.emulator.settings import CLASSIFY
from upstage_assets.emulator.state import ApiCall
from upstage_assets.local_engine.classify import classify_parsed
from upstage_assets.schemas.classification import labels_from_response_format

CLASSIFY_ALIASES = ("document-classify", "document-classify-nightly")


def check_classify_model(model: Any) -> str:
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model is required: use document-classify", "invalid_model_name")
    if model in CLASSIFY_ALIASES or model.startswith("document-classify-"):
        return model
    raise ApiError(400, f"invalid model name {model!r}", "invalid_model_name")


async def classify(call: ApiCall) -> Response:
    body = await read_json(call)
    check_classify_model(body.get("model"))
    await call.admit(CLASSIFY)
    try:
        labels = labels_from_response_format(body.get("response_format"))
    except ValueError as exc:
        raise ApiError(400, f"invalid response_format: {exc}", "invalid_schema") from None
    (data,) = await document_urls(body.get("messages"), max_documents=1)
    settings = call.state.settings
    pages = inspect(data, max_bytes=settings.ie_max_bytes, max_pages=settings.ie_sync_max_pages,
                    max_pixels=settings.max_pixels_per_page).page_count
    call.admit_pages(pages, document=data)
    parsed, _ = await parse_for_extraction(settings, call.state.engine, data, settings.ie_sync_max_pages)
    result = await call.state.engine.run(classify_parsed, parsed, labels)
    response = chat_completion(result.label, settings.classify_snapshot)
    response["usage"]["pages"] = pages
    return JSONResponse(response)
