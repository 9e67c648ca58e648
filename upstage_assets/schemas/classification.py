"""Document classes: the labels a classifier chooses from, in Upstage's request shape.

Upstage's Document Classification API (contract section 6b) takes the labels as a
``response_format`` whose schema is ``{"type": "string", "oneOf": [{"const", "description"}]}``
and answers with the chosen label. The same labels drive the local classifier and the
pipeline's routing: each extraction schema is one label (its name, its description or its
field names), plus ``others`` for everything the platform has no schema for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from upstage_assets.schemas.extraction import ExtractionSchema

OTHERS = "others"
#: What the built-in schemas' labels mean (shown to the API's model and read by the local rules).
BUILTIN_DESCRIPTIONS = {
    "invoice": "An invoice or bill requesting payment: seller and buyer, invoice number, issue and due dates, "
               "line items, tax/VAT and the amount due.",
    "receipt": "A till or card receipt for a purchase already paid: store name and address, date and time, "
               "items with prices, total, payment (cash, card, change).",
}
OTHERS_DESCRIPTION = "Any other document: letters, forms, reports, manuals, articles, statements, books."


@dataclass(frozen=True)
class DocumentLabel:
    name: str
    description: str = ""


@dataclass(frozen=True)
class Classification:
    """A classifier's answer: the label, its confidence (``None`` when the backend gives none), by whom."""

    label: str
    confidence: float | None
    classified_by: str
    scores: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"document_class": self.label, "class_confidence": self.confidence,
                "classified_by": self.classified_by, "class_scores": self.scores}


def label_for_schema(schema: ExtractionSchema) -> DocumentLabel:
    """A schema's label: its name; the description the schema gives, else a built-in one, else its fields."""
    inner = schema.response_format.get("json_schema", {})
    description = (inner.get("description") or schema.json_schema.get("description")
                   or BUILTIN_DESCRIPTIONS.get(schema.name)
                   or f"A {schema.name.replace('_', ' ')} document with: "
                      + ", ".join(n.replace("_", " ") for n in schema.properties))
    return DocumentLabel(schema.name, str(description))


def labels_for_schemas(schemas: list[ExtractionSchema]) -> list[DocumentLabel]:
    """One label per schema (the first of a name wins), then ``others``."""
    labels: dict[str, DocumentLabel] = {}
    for schema in schemas:
        labels.setdefault(schema.name, label_for_schema(schema))
    labels.pop(OTHERS, None)
    return [*labels.values(), DocumentLabel(OTHERS, OTHERS_DESCRIPTION)]


def classification_response_format(labels: list[DocumentLabel]) -> dict[str, Any]:
    """The request's ``response_format`` (contract section 6b)."""
    return {"type": "json_schema", "json_schema": {"name": "document-classify", "schema": {
        "type": "string", "oneOf": [{"const": label.name, "description": label.description} for label in labels]}}}


def labels_from_response_format(response_format: Any) -> list[DocumentLabel]:
    """The labels of a request's ``response_format``; ``ValueError`` says what is wrong with it."""
    if not isinstance(response_format, dict):
        raise ValueError("response_format must be an object")
    schema = (response_format.get("json_schema") or {}).get("schema") if isinstance(
        response_format.get("json_schema"), dict) else None
    options = schema.get("oneOf") if isinstance(schema, dict) else None
    if not isinstance(options, list) or not options:
        raise ValueError("response_format.json_schema.schema.oneOf must list the labels")
    labels = []
    for option in options:
        if not isinstance(option, dict) or not isinstance(option.get("const"), str) or not option["const"]:
            raise ValueError("every oneOf entry needs a non-empty string const (the label)")
        labels.append(DocumentLabel(option["const"], str(option.get("description") or "")))
    if len({label.name for label in labels}) != len(labels):
        raise ValueError("labels must be unique")
    return labels
