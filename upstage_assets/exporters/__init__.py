"""Exports of the results for people and other tools: tables, Markdown, an OCR training set.

Every exporter reads the result store through the storage resource (local folder or S3)
and writes into a local output folder; each returns an ``ExportResult`` naming what it wrote.
"""

from __future__ import annotations

from collections.abc import Callable

from upstage_assets.exporters.base import ExportResult, ExportSource
from upstage_assets.exporters.markdown import export_markdown
from upstage_assets.exporters.ocr_lmdb import export_lmdb
from upstage_assets.exporters.tables import export_csv, export_jsonl, export_parquet

EXPORTERS: dict[str, Callable[..., ExportResult]] = {
    "parquet": export_parquet,
    "csv": export_csv,
    "jsonl": export_jsonl,
    "markdown": export_markdown,
    "lmdb": export_lmdb,
}

__all__ = ["EXPORTERS", "ExportResult", "ExportSource"]
