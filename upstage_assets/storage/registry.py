"""The document registry: what each partition key stands for.

A partition key is only a content hash; the registry remembers where the bytes came from,
which extraction schema applies and any per-document columns a manifest carried. Sensors
and the CLI write it before adding the partition, so a run can always find its input.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore


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
        self.store.write_bytes(self.layout.registry_key(record.document_id), record.to_json())

    def get(self, document_id: str) -> DocumentRecord | None:
        key = self.layout.registry_key(document_id)
        if not self.store.exists(key):
            return None
        return DocumentRecord.from_json(self.store.read_bytes(key))

    def contains(self, document_id: str) -> bool:
        return self.store.exists(self.layout.registry_key(document_id))

    def document_ids(self) -> list[str]:
        prefix = f"{self.layout.registry}/"
        return [info.key[len(prefix):-len(".json")] for info in self.store.list(self.layout.registry)
                if info.key.endswith(".json")]
