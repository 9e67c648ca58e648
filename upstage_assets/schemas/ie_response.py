"""Read an Information Extraction response (contract section 4) into per-field records.

Both backends end here, so ``kie_fields`` holds the same shape whoever extracted it:
``{field: {"value", "confidence" (0..1 or None), "page", "coordinates"}}``.
"""

from __future__ import annotations

import json
from typing import Any

# The API flags confidence as "high"/"low"; the table wants a number.
CONFIDENCE_FOR_FLAG = {"high": 0.9, "low": 0.3}


def _confidence(raw: Any) -> float | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        return CONFIDENCE_FOR_FLAG.get(raw.strip().lower())
    return None


def fields_from_ie_response(response: dict[str, Any], property_names: list[str]) -> dict[str, dict[str, Any]]:
    """Merge the message content (values) with the ``additional_values`` tool call (locations)."""
    message = response["choices"][0]["message"]
    content = message.get("content") or "{}"
    values = json.loads(content) if isinstance(content, str) else dict(content)
    extras: dict[str, Any] = {}
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        if function.get("name") == "additional_values":
            arguments = function.get("arguments") or "{}"
            extras = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
    fields: dict[str, dict[str, Any]] = {}
    for name in property_names:
        found = extras.get(name)
        extra: dict[str, Any] = found if isinstance(found, dict) else {}
        value = values.get(name, extra.get("_value"))
        fields[name] = {
            "value": value,
            "confidence": _confidence(extra.get("confidence")) if extra else None,
            "page": extra.get("page") if extra else None,
            "coordinates": extra.get("coordinates") if extra else None,
        }
        if extra.get("source") in ("model", "rules"):
            fields[name]["source"] = extra["source"]  # the local engine says which extractor answered
    return fields
