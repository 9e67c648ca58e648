"""Read the results back: the validated tables, quarantine and failures, and a summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from upstage_assets.storage.failures import read_failures
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.tables import read_tables as read_result_tables


def read_tables(output_root: str | Path, area: str = "tables") -> dict[str, pa.Table]:
    """``{schema_name: table}`` for a local output root, through the one table reader."""
    root = Path(output_root)
    if not (root / area).is_dir():
        return {}
    return read_result_tables(LocalObjectStore(root), OutputLayout(), area=area)


def summarize_outputs(output_root: Path, report: Any) -> None:
    layout = OutputLayout()
    store = LocalObjectStore(output_root)
    tables = read_tables(output_root)
    quarantine = read_tables(output_root, "quarantine")
    report.rows = sum(t.num_rows for t in tables.values())
    report.quarantined = sum(t.num_rows for t in quarantine.values())
    report.failed = read_failures(store, layout).num_rows
    report.documents = len(report.records)
    pages = fields_found = 0
    for info in store.list(layout.raw):
        pages += int(json.loads(store.read_bytes(info.key)).get("page_count") or 0)
    for info in store.list(layout.kie):
        kie = json.loads(store.read_bytes(info.key))
        fields_found += sum(1 for f in kie.get("fields", {}).values() if f.get("value") not in (None, "", []))
    report.pages, report.fields_found = pages, fields_found
