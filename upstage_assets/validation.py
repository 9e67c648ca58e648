"""Turn extracted fields into one typed row, or a quarantine row that says why not.

Values are coerced to the column types of ``schemas.arrow``; a required field that is
missing or a value that cannot be read as its type sends the document to quarantine with
every reason listed, so a reviewer sees the whole problem at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from upstage_assets.schemas.arrow import (
    QUARANTINE_SCHEMA,
    arrow_type_for,
    is_date_property,
    is_money_property,
    table_schema_for,
)
from upstage_assets.schemas.extraction import ExtractionSchema


class CoercionError(ValueError):
    pass


@dataclass
class Lineage:
    document_id: str
    source_uri: str
    sha256: str
    backend: str
    model: str
    pages_billed: int
    processed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    source_metadata: dict[str, str] = field(default_factory=dict)
    document_class: str | None = None
    class_confidence: float | None = None


@dataclass
class ValidationOutcome:
    table: pa.Table  # one row: validated or quarantined
    quarantined: bool
    reasons: list[str]


_AMOUNT_NOISE = re.compile(r"[^\d,.\-]")


def _number_text(value: str) -> str:
    """``"$1,234.50"``, ``"1.234,50 EUR"`` -> ``"1234.50"``: thousands separators out, one decimal point."""
    text = _AMOUNT_NOISE.sub("", value.strip())
    if text.count(",") and text.count("."):
        return text.replace(",", "") if text.rfind(".") > text.rfind(",") else text.replace(".", "").replace(",", ".")
    if text.count(",") == 1 and len(text.split(",")[1]) in (1, 2):
        return text.replace(",", ".")
    return text.replace(",", "")


def coerce_number(value: Any) -> float:
    if isinstance(value, bool):
        raise CoercionError(f"{value!r} is a boolean, not a number")
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        text = _number_text(value)
        try:
            return float(text)
        except ValueError:
            raise CoercionError(f"cannot read {value!r} as a number") from None
    raise CoercionError(f"cannot read {value!r} as a number")


MONEY_PLACES = Decimal("0.0001")  # the scale of MONEY_TYPE


def coerce_money(value: Any) -> Decimal:
    """An exact decimal: text is read as written (never through a float), rounded half-even to 4 places."""
    if isinstance(value, bool):
        raise CoercionError(f"{value!r} is a boolean, not an amount")
    if isinstance(value, float):
        value = repr(value)  # the shortest text that round-trips: 0.1 stays 0.1
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        text = _number_text(value)
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise CoercionError(f"cannot read {value!r} as an amount") from None
    else:
        raise CoercionError(f"cannot read {value!r} as an amount")
    if not number.is_finite() or abs(number) >= Decimal(10) ** 14:
        raise CoercionError(f"{value!r} is not an amount that fits 14 digits")
    return number.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)


def coerce_integer(value: Any) -> int:
    number = coerce_number(value)
    if number != int(number):
        raise CoercionError(f"{value!r} is not a whole number")
    return int(number)


def coerce_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise CoercionError(f"cannot read {value!r} as a date")
    text = value.strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    from dateutil import parser as date_parser

    try:
        return date_parser.parse(text, dayfirst=True).date()
    except (ValueError, OverflowError):
        raise CoercionError(f"cannot read {value!r} as a date") from None


def coerce_value(name: str, prop: dict[str, Any], value: Any) -> Any:
    if value is None or value == "":
        return None
    kind = prop.get("type")
    if kind == "number":
        return coerce_money(value) if is_money_property(name, prop) else coerce_number(value)
    if kind == "integer":
        return coerce_integer(value)
    if kind == "array":
        if not isinstance(value, list):
            raise CoercionError(f"expected a list, got {type(value).__name__}")
        items = prop.get("items", {})
        if items.get("type") == "object":
            item_props = items.get("properties", {})
            return [{k: coerce_value(k, p, (row or {}).get(k)) for k, p in item_props.items()} for row in value]
        return [coerce_value(name, items, v) for v in value]
    if is_date_property(name, prop):
        return coerce_date(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def validate_fields(fields: dict[str, dict[str, Any]], schema: ExtractionSchema, lineage: Lineage) -> ValidationOutcome:
    row: dict[str, Any] = {}
    reasons: list[str] = []
    for name, prop in schema.properties.items():
        raw = (fields.get(name) or {}).get("value")
        try:
            row[name] = coerce_value(name, prop, raw)
        except CoercionError as exc:
            row[name] = None
            reasons.append(f"{name}: {exc}")
    for name in schema.required:
        if row.get(name) is None and not any(r.startswith(f"{name}:") for r in reasons):
            reasons.append(f"{name}: required field missing")
    confidences = {name: float(f["confidence"]) for name, f in fields.items()
                   if isinstance(f, dict) and isinstance(f.get("confidence"), int | float)}
    lineage_values: dict[str, Any] = {
        "document_id": lineage.document_id, "source_uri": lineage.source_uri, "sha256": lineage.sha256,
        "backend": lineage.backend, "model": lineage.model, "schema_name": schema.name,
        "schema_version": schema.version, "processed_at": lineage.processed_at,
        "pages_billed": lineage.pages_billed, "document_class": lineage.document_class,
        "class_confidence": lineage.class_confidence,
    }
    if reasons:
        quarantine_row = {**lineage_values, "reasons": reasons,
                          "fields_json": json.dumps({k: (v or {}).get("value") for k, v in fields.items()},
                                                    ensure_ascii=False, default=str)}
        return ValidationOutcome(pa.Table.from_pylist([quarantine_row], schema=QUARANTINE_SCHEMA), True, reasons)
    full_row = {**row, **lineage_values, "field_confidence": list(confidences.items()),
                "source_metadata": [(str(k), str(v)) for k, v in lineage.source_metadata.items()]}
    return ValidationOutcome(pa.Table.from_pylist([full_row], schema=table_schema_for(schema)), False, [])


def quarantine_unextracted(schema_name: str, schema_version: str, lineage: Lineage,
                           reasons: list[str]) -> ValidationOutcome:
    """The quarantine row of a document that was never extracted (its class did not fit the schema)."""
    row = {"document_id": lineage.document_id, "source_uri": lineage.source_uri, "sha256": lineage.sha256,
           "backend": lineage.backend, "model": lineage.model, "schema_name": schema_name,
           "schema_version": schema_version, "processed_at": lineage.processed_at,
           "pages_billed": lineage.pages_billed, "document_class": lineage.document_class,
           "class_confidence": lineage.class_confidence, "reasons": reasons, "fields_json": "{}"}
    return ValidationOutcome(pa.Table.from_pylist([row], schema=QUARANTINE_SCHEMA), True, reasons)


__all__ = ["quarantine_unextracted", "Lineage", "ValidationOutcome", "validate_fields", "arrow_type_for", "CoercionError"]
