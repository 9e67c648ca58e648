"""Arrow table schemas derived from an extraction schema, plus the lineage columns.

JSON-schema types map to Arrow types (string, number -> float64, integer -> int64,
date-like strings -> date32, arrays -> list columns of structs or scalars), so the table is
typed the way the user described the fields, not as strings. Money is a decimal
(``decimal128(18, 4)``, exact sums): a number property with ``"format": "money"`` (or
``decimal``/``currency``), or one whose name says amount, price, total, tax, cost, fee,
balance, discount or tip, the way ``date`` in a name makes a date.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from upstage_assets.schemas.extraction import ExtractionSchema

LINEAGE_FIELDS = [
    pa.field("document_id", pa.string(), nullable=False),
    pa.field("source_uri", pa.string()),
    pa.field("sha256", pa.string()),
    pa.field("backend", pa.string()),
    pa.field("model", pa.string()),
    pa.field("schema_name", pa.string()),
    pa.field("schema_version", pa.string()),
    pa.field("processed_at", pa.timestamp("us", tz="UTC")),
    pa.field("pages_billed", pa.int64()),
    pa.field("field_confidence", pa.map_(pa.string(), pa.float64())),
    pa.field("source_metadata", pa.map_(pa.string(), pa.string())),
]
#: The document's class and the classifier's confidence (null when not classified, or no confidence given).
CLASS_FIELDS = [
    pa.field("document_class", pa.string()),
    pa.field("class_confidence", pa.float64()),
]
LINEAGE_FIELDS += CLASS_FIELDS

QUARANTINE_SCHEMA = pa.schema([
    *LINEAGE_FIELDS[:9],
    *CLASS_FIELDS,
    pa.field("reasons", pa.list_(pa.string())),
    pa.field("fields_json", pa.string()),
])


MONEY_TYPE = pa.decimal128(18, 4)
MONEY_FORMATS = ("money", "decimal", "currency")
MONEY_WORDS = frozenset({"amount", "price", "total", "subtotal", "tax", "vat", "cost", "fee", "balance",
                         "discount", "tip", "charge", "due"})


def is_money_property(name: str, prop: dict[str, Any]) -> bool:
    if prop.get("type") != "number":
        return False
    return prop.get("format") in MONEY_FORMATS or bool(MONEY_WORDS.intersection(name.lower().split("_")))


def is_date_property(name: str, prop: dict[str, Any]) -> bool:
    if prop.get("type") != "string":
        return False
    return prop.get("format") in ("date", "date-time") or "date" in name.lower().split("_") or name.lower().endswith("date")


def arrow_type_for(name: str, prop: dict[str, Any]) -> pa.DataType:
    kind = prop.get("type")
    if kind == "integer":
        return pa.int64()
    if kind == "number":
        return MONEY_TYPE if is_money_property(name, prop) else pa.float64()
    if kind == "array":
        items = prop.get("items", {})
        if items.get("type") == "object":
            children = [pa.field(k, arrow_type_for(k, v)) for k, v in items.get("properties", {}).items()]
            return pa.list_(pa.struct(children) if children else pa.string())
        return pa.list_(arrow_type_for(name, items))
    if kind == "object":
        children = [pa.field(k, arrow_type_for(k, v)) for k, v in prop.get("properties", {}).items()]
        return pa.struct(children) if children else pa.string()
    if is_date_property(name, prop):
        return pa.date32()
    return pa.string()


def table_schema_for(schema: ExtractionSchema) -> pa.Schema:
    """The validated table's schema: extracted fields first, then lineage."""
    field_columns = [pa.field(name, arrow_type_for(name, prop)) for name, prop in schema.properties.items()]
    reserved = {f.name for f in LINEAGE_FIELDS}
    clashes = reserved.intersection(schema.properties)
    if clashes:
        raise ValueError(f"schema {schema.name!r} uses reserved column names: {sorted(clashes)}")
    return pa.schema([*field_columns, *LINEAGE_FIELDS],
                     metadata={"schema_name": schema.name, "schema_version": schema.version})
