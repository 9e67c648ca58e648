"""Extraction schemas in the Upstage Information Extraction ``response_format`` form.

A schema is what a user would send to Upstage: ``{"type": "json_schema", "json_schema":
{"name": ..., "schema": {"type": "object", "properties": {...}}}}``. Its version is a
hash of its content, so editing a schema changes the data version of exactly the
partitions extracted with it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

BUILTIN_SCHEMAS = ("invoice", "receipt")
#: Not a schema: "route each document to the schema of its class" (``defs/pipeline/routing.py``).
AUTO_SCHEMA = "auto"


class SchemaError(ValueError):
    """The schema breaks the Upstage Information Extraction rules (contract section 4)."""


@dataclass(frozen=True)
class ExtractionSchema:
    name: str
    response_format: dict[str, Any]

    @property
    def json_schema(self) -> dict[str, Any]:
        return self.response_format["json_schema"]["schema"]

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        return self.json_schema.get("properties", {})

    @property
    def required(self) -> list[str]:
        return list(self.json_schema.get("required", []))

    @property
    def version(self) -> str:
        canonical = json.dumps(self.response_format, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def validate_schema(response_format: dict[str, Any]) -> None:
    """Apply the API's schema rules so a bad schema fails before any document is sent."""
    if response_format.get("type") != "json_schema" or "json_schema" not in response_format:
        raise SchemaError('the schema must be {"type": "json_schema", "json_schema": {"name", "schema"}}')
    inner = response_format["json_schema"]
    schema = inner.get("schema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise SchemaError("the root of json_schema.schema must be an object")
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise SchemaError("the schema must name at least one property")
    for name, prop in properties.items():
        kind = prop.get("type")
        if kind not in ("string", "integer", "number", "array"):
            raise SchemaError(f"property {name!r}: first-level type must be string, integer, number or array, not {kind!r}")
        if kind == "array":
            items = prop.get("items", {})
            if items.get("type") == "array":
                raise SchemaError(f"property {name!r}: arrays cannot contain arrays")
    names_length = sum(len(n) for n in properties)
    if names_length > 10_000:
        raise SchemaError("property names total more than 10,000 characters")


def load_schema(name_or_path: str) -> ExtractionSchema:
    """Load a built-in schema by name (``invoice``, ``receipt``) or a user schema from a JSON file."""
    if name_or_path in BUILTIN_SCHEMAS:
        text = resources.files("upstage_assets.schemas").joinpath(f"{name_or_path}.json").read_text()
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise SchemaError(f"no built-in schema named {name_or_path!r} and no file at {path}")
        text = path.read_text()
    response_format = json.loads(text)
    validate_schema(response_format)
    name = response_format["json_schema"].get("name") or Path(name_or_path).stem
    return ExtractionSchema(name=name, response_format=response_format)
