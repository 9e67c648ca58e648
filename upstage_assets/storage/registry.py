"""The document registry: what each partition key stands for.

A partition key is only a content hash; the registry remembers where the bytes came from
(every source URI), which extraction schemas apply and any per-document columns a manifest
carried.

Duplicates (the same bytes under several names) are one document. Its schema: an explicit one
(a schema-named folder, a manifest's ``schema`` column) always outranks the default, whatever
order the copies arrive in; the same bytes under two different explicit schemas are extracted
with both (one parse, paid once, one extraction per schema). Sensors
and the CLI write it before adding the partition, so a run can always find its input.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.summaries import REGISTERED, read_summary, write_tracked


@dataclass(frozen=True)
class DocumentRecord:
    document_id: str
    source_uri: str
    sha256: str
    size_bytes: int
    filename: str
    schema: str
    registered_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    extra: dict[str, Any] = field(default_factory=dict)  # manifest columns carried to the output
    schema_explicit: bool = False  # ``schema`` came from a folder name or a manifest column, not the default
    schemas: list[str] = field(default_factory=list)  # every explicit schema asked for (empty: [schema])
    sources: list[str] = field(default_factory=list)  # every source URI of these bytes (empty: [source_uri])

    def all_schemas(self) -> list[str]:
        """The schemas to extract with, the primary one first."""
        return self.schemas or [self.schema]

    def all_sources(self) -> list[str]:
        return self.sources or [self.source_uri]

    def with_source(self, uri: str, schema: str, explicit: bool) -> DocumentRecord | None:
        """This record with one more source of the same bytes; ``None`` when nothing changes."""
        sources = self.all_sources() + ([] if uri in self.all_sources() else [uri])
        primary, schemas, source_uri = self.schema, self.all_schemas(), self.source_uri
        if explicit and not self.schema_explicit:  # an explicit schema outranks the default
            primary, schemas, source_uri = schema, [schema], uri
        elif explicit and schema not in schemas:  # two explicit schemas: both extractions
            schemas = [*schemas, schema]
        changed = dataclasses.replace(self, schema=primary, schemas=schemas, source_uri=source_uri,
                                      sources=sources, schema_explicit=self.schema_explicit or explicit)
        return None if changed == self else changed

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> DocumentRecord:
        return cls(**json.loads(data))


class DocumentRegistry:
    def __init__(self, store: ObjectStore, layout: OutputLayout | None = None):
        self.store = store
        self.layout = layout or OutputLayout()

    def put(self, record: DocumentRecord) -> None:
        write_tracked(self.store, self.layout, self.layout.registry_key(record.document_id), record.to_json())

    def add_source(self, document_id: str, uri: str, schema: str, explicit: bool) -> DocumentRecord | None:
        """Record another source of known bytes (see the module docstring); the new record if it changed."""
        record = self.get(document_id)
        changed = record.with_source(uri, schema, explicit) if record else None
        if changed is not None:
            self.put(changed)
        return changed

    def get(self, document_id: str) -> DocumentRecord | None:
        key = self.layout.registry_key(document_id)
        if not self.store.exists(key):
            return None
        return DocumentRecord.from_json(self.store.read_bytes(key))

    def contains(self, document_id: str) -> bool:
        return self.store.exists(self.layout.registry_key(document_id))

    def registered_ids(self) -> set[str]:
        """Every registered id, from the registry summary plus the records written since it was
        folded (``storage/summaries.py``): no listing of the whole registry once it is compacted."""
        prefix = f"{self.layout.registry}/"
        keys = read_summary(self.store, self.layout, REGISTERED, with_keys=True).keys or set()
        return {key[len(prefix):-len(".json")] for key in keys}

    def count(self) -> int:
        """How many documents are registered (the summary's running count)."""
        return read_summary(self.store, self.layout, REGISTERED).totals.get(REGISTERED.name, {}).get("documents", 0)

    def document_ids(self) -> list[str]:
        prefix = f"{self.layout.registry}/"
        return [info.key[len(prefix):-len(".json")] for info in self.store.list(self.layout.registry)
                if info.key.endswith(".json")]
