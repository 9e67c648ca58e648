"""Turn a stage's plain metadata dict into typed Dagster metadata for the UI; tables' column schemas."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from dagster import MetadataValue, TableColumn, TableColumnConstraints, TableSchema

from upstage_assets.unicode_text import valid_unicode

MARKDOWN_KEYS = {"preview", "fields"}
PATH_KEYS = {"path", "source_uri"}


def to_metadata(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in valid_unicode(values).items():
        if value is None:
            continue
        if key in MARKDOWN_KEYS:
            out[key] = MetadataValue.md(str(value))
        elif key in PATH_KEYS:
            out[key] = MetadataValue.url(value) if str(value).startswith("s3://") else MetadataValue.path(str(value))
        elif isinstance(value, dict):
            out[key] = MetadataValue.json(value)
        else:
            out[key] = value
    return out


LINEAGE_DESCRIPTIONS = {
    "document_id": "the document's partition key (SHA-256 based); the MERGE key: one row per document",
    "source_uri": "where the document was read from",
    "sha256": "SHA-256 of the document's bytes",
    "backend": "which engine extracted the fields (upstage, emulator, local)",
    "model": "the extraction model named in the response",
    "schema_name": "the extraction schema",
    "schema_version": "hash of the extraction schema's content",
    "processed_at": "when the row was validated (UTC); a newer row replaces an older one",
    "pages_billed": "pages billed for the document: parse, classification and extraction",
    "field_confidence": "extraction confidence per field (0-1)",
    "source_metadata": "the source's own metadata (S3 object metadata, manifest columns)",
    "reasons": "why the document was quarantined, one reason per field",
    "fields_json": "the extracted values as JSON, for review",
}


def column_schema(arrow_schema: pa.Schema, properties: dict[str, dict[str, Any]]) -> TableSchema:
    """``dagster/column_schema`` for a table: Arrow types, descriptions from the JSON schema."""
    return TableSchema(columns=[
        TableColumn(name=f.name, type=str(f.type),
                    description=(properties.get(f.name) or {}).get("description") or LINEAGE_DESCRIPTIONS.get(f.name),
                    constraints=TableColumnConstraints(nullable=f.nullable, unique=f.name == "document_id"))
        for f in arrow_schema])
