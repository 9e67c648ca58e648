"""Pseudo-labels: documents an API already processed, read back from the output store.

``kie/<id>.json`` holds each field's value and confidence as the backend answered;
``parsed/<id>.json`` the Document Parse response it read. Values at or above the
confidence threshold become labels (a field below it is left unknown for that document,
not taught as absent); documents extracted by the local backend are skipped, so the model
never learns from its own answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from upstage_assets.local_engine.learned.corpus import LabelledDocument
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore

DEFAULT_MIN_CONFIDENCE = 0.8
API_BACKENDS = ("upstage", "emulator")


def confident_values(fields: dict[str, dict[str, Any]], min_confidence: float) -> dict[str, Any]:
    """{field: value} for scalar values whose confidence reaches the threshold."""
    labels = {}
    for name, field in fields.items():
        value, confidence = field.get("value"), field.get("confidence")
        if value in (None, "", []) or isinstance(value, list | dict):
            continue
        if isinstance(confidence, int | float) and confidence >= min_confidence:
            labels[name] = value
    return labels


def iter_pseudo_labelled(store: ObjectStore, schema_name: str, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                         layout: OutputLayout | None = None, backends: tuple[str, ...] = API_BACKENDS
                         ) -> Iterator[LabelledDocument]:
    """Documents of ``schema_name`` extracted by an API backend, with their confident values."""
    layout = layout or OutputLayout()
    for info in sorted(store.list(f"{layout.kie}/"), key=lambda i: i.key):
        if not info.key.endswith(".json"):
            continue
        kie = json.loads(store.read_bytes(info.key))
        if kie.get("schema_name") != schema_name or kie.get("backend") not in backends:
            continue
        document_id = kie.get("document_id") or info.key.rsplit("/", 1)[-1].removesuffix(".json")
        parsed_key = layout.parsed_key(document_id)
        if not store.exists(parsed_key):
            continue
        labels = confident_values(kie.get("fields") or {}, min_confidence)
        if not labels:
            continue
        raw_key = layout.raw_key(document_id)
        sha256 = json.loads(store.read_bytes(raw_key)).get("sha256") if store.exists(raw_key) else None
        yield LabelledDocument(sha256 or document_id, document_id, json.loads(store.read_bytes(parsed_key)),
                               labels, "pseudo")
