"""Document Classification over HTTP (contract section 6b).

A chat-completions JSON call like Information Extraction: the document as a data URL, the
labels (each with the description that guides the model) as a ``response_format`` of string
``oneOf`` consts; the answer's ``choices[0].message.content`` is the chosen label. The API
gives no confidence, so the classification's confidence is ``None`` unless the answer carries
an ``additional_values`` confidence (read like extraction's).
"""

from __future__ import annotations

import json
from typing import Any

from upstage_assets.schemas.classification import (
    Classification,
    DocumentLabel,
    classification_response_format,
)
from upstage_assets.upstage_api.errors import UpstageProtocolError
from upstage_assets.upstage_api.extraction import confidence_value, data_url, tool_arguments
from upstage_assets.upstage_api.http import UpstageHttp
from upstage_assets.upstage_api.parser import ClassificationResult, SourceDocument
from upstage_assets.upstage_api.usage import pages_billed

CLASSIFY_PATH = "/v1/document-classification"
CLASSIFY_MODEL = "document-classify"


def build_request(document: SourceDocument, labels: list[DocumentLabel], model: str = CLASSIFY_MODEL) -> dict[str, Any]:
    return {"model": model,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(document)}}]}],
            "response_format": classification_response_format(labels)}


def chosen_label(body: Any, labels: list[DocumentLabel]) -> tuple[str, float | None]:
    """The label of an answer (a plain string, or a JSON-quoted one), checked against the labels sent."""
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise UpstageProtocolError("Document Classification answered without choices[0].message",
                                   path=CLASSIFY_PATH) from exc
    content = message.get("content")
    if isinstance(content, str) and content.strip().startswith('"'):
        try:
            content = json.loads(content)
        except ValueError:
            pass
    if not isinstance(content, str) or content.strip() not in {label.name for label in labels}:
        raise UpstageProtocolError(f"Document Classification answered {str(content)[:60]!r}, not one of the labels",
                                   path=CLASSIFY_PATH)
    extra = tool_arguments(message)
    confidence = confidence_value(extra.get("confidence")) if isinstance(extra, dict) else None
    return content.strip(), confidence


class DocumentClassificationApi:
    def __init__(self, http: UpstageHttp, model: str = CLASSIFY_MODEL):
        self.http = http
        self.model = model

    async def classify(self, document: SourceDocument, labels: list[DocumentLabel]) -> ClassificationResult:
        def check(body: Any) -> tuple[dict[str, Any], tuple[str, float | None]]:
            if not isinstance(body, dict):
                raise UpstageProtocolError("Document Classification answered with a non-object", path=CLASSIFY_PATH)
            return body, chosen_label(body, labels)

        body, (label, confidence) = await self.http.request_json(
            "POST", CLASSIFY_PATH, endpoint="document-classification", pages=document.page_count,
            json=build_request(document, labels, self.model), decode=check)
        model = str(body.get("model") or self.model)
        return ClassificationResult(Classification(label, confidence, model), body,
                                    pages_billed(body, document.page_count))
