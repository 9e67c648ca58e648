"""The learned extractor as the local KIE calls it: fields the current model finds on a page.

Returns only what the model answered with enough confidence; the caller (``kie``) asks the
rules for everything else, so a model never makes a document worse by leaving a field out.
"""

from __future__ import annotations

from typing import Any

import torch

from upstage_assets.local_engine.learned.catalog import model_for_schema
from upstage_assets.local_engine.learned.features import page_view
from upstage_assets.local_engine.learned.predict import decode, tag
from upstage_assets.local_engine.learned.train import select_device

# Below this the model's answer is a guess: the rules are asked instead.
MIN_CONFIDENCE = 0.3


def _typed(value: Any, prop: dict[str, Any]) -> Any:
    if prop.get("type") == "integer" and isinstance(value, float):
        return int(value) if value == int(value) else None
    return value


def learned_fields(parse_response: dict[str, Any], properties: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {value, confidence, page, coordinates, source: "model"}} for the fields the model read."""
    model = model_for_schema(properties)
    if model is None:
        return {}
    view = page_view(parse_response)
    if not view.lines:
        return {}
    device = select_device()
    tagger = model.tagger.to(device) if device.type != "cpu" else model.tagger
    with torch.inference_mode():
        probs = tag(tagger, [view], device)[0]
    found: dict[str, dict[str, Any]] = {}
    for name, prediction in decode(view, probs, model.fields, model.lexicon, model.join_shares).items():
        if prediction is None or prediction.confidence < MIN_CONFIDENCE:
            continue
        value = _typed(prediction.value, properties.get(name, {}))
        if value in (None, ""):
            continue
        segment = prediction.segment
        found[name] = {"value": value, "confidence": round(min(1.0, prediction.confidence), 3),
                       "page": segment.page if segment else None,
                       "coordinates": segment.coordinates if segment else None, "source": "model"}
    return found
