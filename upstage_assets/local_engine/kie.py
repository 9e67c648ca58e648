"""Schema-driven key information extraction over a Document Parse response.

STUB: the interface is fixed; the implementation lands with the KIE work.
"""

from __future__ import annotations

from typing import Any

LOCAL_IE_MODEL = "information-extract-local"


def extract_fields(parse_response: dict[str, Any], json_schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Map each schema property to {"value", "confidence" (0..1 float), "page", "coordinates"}.

    A field that was not found has value None and confidence 0.0. Array properties (line
    items) have a list of objects as value.
    """
    raise NotImplementedError


def information_extraction_response(
    parse_response: dict[str, Any],
    response_format: dict[str, Any],
    *,
    location: bool = False,
    confidence: bool = False,
    numeric_confidence: bool = False,
) -> dict[str, Any]:
    """A chat.completion response (contract section 4) with the additional_values tool call
    when location or confidence is requested. ``numeric_confidence`` puts the float score in
    place of the API's "high"/"low" flag (the local backend wants the number)."""
    raise NotImplementedError
