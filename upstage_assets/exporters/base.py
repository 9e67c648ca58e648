"""What every exporter reads from (the result store) and reports back (the files it wrote)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from upstage_assets.compaction import latest_quarantine_times, latest_rows
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.registry import DocumentRegistry


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)
    records: int = 0  # rows, documents or samples, depending on the format
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (document id, reason)


@dataclass
class ExportSource:
    """The result store plus a way to read source documents (for crops)."""

    store: ObjectStore
    layout: OutputLayout
    read_source: Callable[[str], bytes]
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file key, reason): left out of reads

    @property
    def registry(self) -> DocumentRegistry:
        return DocumentRegistry(self.store, self.layout)

    def read_json(self, key: str) -> Any:
        return json.loads(self.store.read_bytes(key))

    def document_ids(self, area: str) -> list[str]:
        """Ids with a ``<area>/<id>.json`` result, in key order."""
        prefix = f"{area}/"
        return [i.key[len(prefix):-len(".json")] for i in self.store.list(area) if i.key.endswith(".json")]

    def tables(self, area: str = "tables", schemas: Iterable[str] | None = None) -> dict[str, pa.Table]:
        """``{schema: table}`` from every Parquet file under ``<area>/<schema>/``, one (latest) row per document."""
        wanted = set(schemas or ())
        parts: dict[str, list[pa.Table]] = {}
        for info in self.store.list(area):
            if not info.key.endswith(".parquet"):
                continue
            schema_name = info.key[len(area) + 1:].split("/", 1)[0]
            if wanted and schema_name not in wanted:
                continue
            try:
                part = pq.read_table(io.BytesIO(self.store.read_bytes(info.key)))
            except Exception as exc:  # one torn or foreign file is reported, the rest are read
                self.unreadable.append((info.key, f"unreadable Parquet: {type(exc).__name__}"))
                continue
            parts.setdefault(schema_name, []).append(part)
        result = {}
        for name, tables in sorted(parts.items()):
            superseded = latest_quarantine_times(self.store, self.layout, name) if area == self.layout.tables else {}
            result[name] = latest_rows(pa.concat_tables(tables, promote_options="permissive"), superseded)
        return result
