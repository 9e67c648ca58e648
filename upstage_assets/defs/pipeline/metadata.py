"""Turn a stage's plain metadata dict into typed Dagster metadata for the UI."""

from __future__ import annotations

from typing import Any

from dagster import MetadataValue

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
