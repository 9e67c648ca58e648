"""Which schema a document is extracted with, decided by its class (issue 17, "Document type").

Every backend classifies (``DocumentParser.classify``: the Upstage Document Classification API,
or the local classifier). With ``schema=auto`` the class picks the schema among the candidate
schemas (each schema's label is its name); ``others`` goes to quarantine as ``unclassified``.
With a fixed schema the document is classified among that schema and the other candidates, and
one classified as another kind, confidently enough, is quarantined as ``wrong_document_type``
without being extracted (nothing billed for the extraction); below the confidence threshold it
is extracted as asked and validation decides. Quarantine is visible (the quarantine table, its
reasons, the UI) and retryable: re-run with ``document_types="off"`` or a lower threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from upstage_assets.schemas.classification import OTHERS, Classification, labels_for_schemas
from upstage_assets.schemas.extraction import AUTO_SCHEMA, ExtractionSchema

UNCLASSIFIED = "unclassified"
WRONG_DOCUMENT_TYPE = "wrong_document_type"
CHECK, OFF = "check", "off"


@dataclass(frozen=True)
class DocumentTypePolicy:
    """``check``: fixed schemas are checked against the class; ``off``: only ``auto`` classifies."""

    mode: str = OFF
    auto_schemas: tuple[str, ...] = ("invoice", "receipt")
    min_confidence: float = 0.6  # a fixed schema's document is quarantined only this sure

    def __post_init__(self) -> None:
        if self.mode not in (CHECK, OFF):
            raise ValueError(f"document_types must be {CHECK!r} or {OFF!r}, not {self.mode!r}")


@dataclass
class Route:
    """The outcome: extract with ``schema_ref``, or quarantine for ``reason`` (no extraction)."""

    schema_ref: str | None  # a schema name or path for ``schema_for``; None when unclassified
    schema: ExtractionSchema | None
    classification: Classification | None
    reason: str | None = None
    detail: str = ""
    pages_billed: int = 0
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> str:
        """The table its row goes to: the schema's, or ``unclassified``."""
        return self.schema.name if self.schema is not None else UNCLASSIFIED

    def columns(self) -> dict[str, Any]:
        c = self.classification
        return {"document_class": c.label if c else None, "class_confidence": c.confidence if c else None,
                "classified_by": c.classified_by if c else None}


def candidates(policy: DocumentTypePolicy, schema_for: Any, fixed: str | None) -> list[tuple[str, ExtractionSchema]]:
    """The schemas a document may be: the fixed one first (when given), then the auto candidates."""
    refs = ([fixed] if fixed else []) + [ref for ref in policy.auto_schemas if ref != fixed]
    seen: dict[str, tuple[str, ExtractionSchema]] = {}
    for ref in refs:
        schema = schema_for(ref)
        seen.setdefault(schema.name, (ref, schema))
    return list(seen.values())


async def route_document(policy: DocumentTypePolicy, schema_for: Any, classify: Any, name: str) -> Route:
    """Decide the schema of one document registered under ``name``; ``classify(labels)`` is awaited."""
    if name != AUTO_SCHEMA and policy.mode == OFF:
        return Route(name, schema_for(name), None)
    options = candidates(policy, schema_for, None if name == AUTO_SCHEMA else name)
    result = await classify(labels_for_schemas([schema for _, schema in options]))
    chosen: Classification = result.classification
    pages, response = int(result.pages_billed or 0), result.response
    by_label = {schema.name: (ref, schema) for ref, schema in options}
    if name == AUTO_SCHEMA:
        if chosen.label == OTHERS or chosen.label not in by_label:
            return Route(None, None, chosen, UNCLASSIFIED, f"classified as {_said(chosen)}: no schema for it",
                         pages, response)
        ref, schema = by_label[chosen.label]
        return Route(ref, schema, chosen, None, "", pages, response)
    ref, schema = options[0]
    sure = chosen.confidence is None or chosen.confidence >= policy.min_confidence
    if chosen.label != schema.name and sure:
        return Route(ref, schema, chosen, WRONG_DOCUMENT_TYPE,
                     f"classified as {_said(chosen)}, the schema is {schema.name!r}", pages, response)
    return Route(ref, schema, chosen, None, "", pages, response)


def _said(c: Classification) -> str:
    return f"{c.label!r}" + (f" ({c.confidence:.2f})" if c.confidence is not None else "") + f" by {c.classified_by}"


__all__ = ["CHECK", "OFF", "UNCLASSIFIED", "WRONG_DOCUMENT_TYPE", "DocumentTypePolicy", "Route", "route_document",
           "OTHERS"]
