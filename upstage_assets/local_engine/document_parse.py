"""Document Parse and OCR responses from the local engine (contract sections 1 and 3).

STUB: the interface is fixed; the implementation lands with the local-engine work.
"""

from __future__ import annotations

from typing import Any

LOCAL_PARSE_MODEL = "document-parse-local"
LOCAL_OCR_MODEL = "ocr-local"


def parse_document(
    data: bytes,
    *,
    mime_type: str,
    ocr: str = "auto",
    output_formats: tuple[str, ...] = ("html", "markdown", "text"),
    coordinates: bool = True,
    base64_encoding: tuple[str, ...] = (),
    device: str | None = None,
) -> dict[str, Any]:
    """Return a Document Parse response: api, model, content{html,markdown,text}, elements, usage."""
    raise NotImplementedError


def ocr_document(data: bytes, *, mime_type: str, device: str | None = None) -> dict[str, Any]:
    """Return an OCR response (model=ocr): pixel vertices, pages[].words[], numBilledPages."""
    raise NotImplementedError
