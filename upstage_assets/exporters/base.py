"""What every exporter reads from (the result store) and reports back (the files it wrote)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.registry import DocumentRegistry
from upstage_assets.storage.tables import read_tables


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
        """``{schema: table}`` under ``<area>/``: the one table reader (``storage/tables.py``); a torn or
        foreign file is reported in ``unreadable`` and the rest are read."""
        return read_tables(self.store, self.layout, area=area, schemas=schemas,
                           on_unreadable=lambda key, reason: self.unreadable.append((key, reason)))
