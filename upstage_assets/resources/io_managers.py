"""IO managers over the result store: JSON documents and Parquet tables, local or S3.

The document pipeline writes each document's result itself, the moment it is done (see
``assets/document_pipeline.py``); these IO managers are how downstream assets and users'
own assets read those results back, partition-aware, and how they write their own outputs
atomically to the same place.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import ConfigurableIOManager, InputContext, OutputContext

from upstage_assets.operations.compaction import PART_PREFIX, latest_rows
from upstage_assets.resources.storage import StorageResource
from upstage_assets.storage.object_store import UnsafeKeyError


def _segment(key: str) -> str:
    """A document key is one path segment: it may not climb into another asset's folder."""
    if not key or "/" in key or "\\" in key or key in (".", "..") or "\x00" in key:
        raise UnsafeKeyError(f"unsafe document key {key!r}")
    return key


def _partition_keys(context: InputContext | OutputContext) -> list[str] | None:
    if not context.has_asset_partitions:
        return None
    return list(context.asset_partition_keys)


class DocumentJsonIOManager(ConfigurableIOManager):
    """``{document_id: json}`` for the partitions asked for (all registered ones when unpartitioned)."""

    storage: StorageResource

    def _prefix(self, context: InputContext | OutputContext) -> str:
        return "/".join(context.asset_key.path)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        store = self.storage.output_store()
        items = obj.items() if isinstance(obj, dict) and _partition_keys(context) else [("all", obj)]
        paths, sizes = [], []
        for key, value in items:
            data = json.dumps(value, ensure_ascii=False, default=str).encode()  # whole, before the write
            paths.append(store.write_bytes(f"{self._prefix(context)}/{_segment(str(key))}.json", data))
            sizes.append(len(data))
        context.add_output_metadata({"objects": len(paths), "first_path": paths[0] if paths else "",
                                     "bytes": sum(sizes)})

    def load_input(self, context: InputContext) -> dict[str, Any]:
        store = self.storage.output_store()
        prefix = self._prefix(context)
        keys = _partition_keys(context)
        if keys is None:
            keys = [i.key[len(prefix) + 1:-5] for i in store.list(prefix) if i.key.endswith(".json")]
        return {k: json.loads(store.read_bytes(f"{prefix}/{_segment(k)}.json")) for k in keys
                if store.exists(f"{prefix}/{_segment(k)}.json")}


class ParquetTableIOManager(ConfigurableIOManager):
    """Reads the validated tables as one Arrow table per schema: ``{schema_name: pa.Table}``."""

    storage: StorageResource

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if not isinstance(obj, pa.Table):
            raise TypeError(f"ParquetTableIOManager stores pyarrow Tables, got {type(obj).__name__}")
        store = self.storage.output_store()
        buffer = io.BytesIO()
        pq.write_table(obj, buffer)
        path = store.write_bytes(f"{'/'.join(context.asset_key.path)}.parquet", buffer.getvalue())
        context.add_output_metadata({"rows": obj.num_rows, "path": path, "bytes": len(buffer.getvalue())})

    def load_input(self, context: InputContext) -> dict[str, pa.Table]:
        storage = self.storage
        store = storage.output_store()
        wanted = set(_partition_keys(context) or [])
        by_schema: dict[str, list[pa.Table]] = {}
        prefix = storage.layout.tables
        for info in store.list(prefix):
            if not info.key.endswith(".parquet"):
                continue
            schema_name, _, filename = info.key[len(prefix) + 1:].rpartition("/")
            compacted = filename.startswith(PART_PREFIX)  # many documents per file (weekly compaction)
            if wanted and not compacted and filename[:-len(".parquet")] not in wanted:
                continue
            table = pq.read_table(io.BytesIO(store.read_bytes(info.key)))
            if wanted and compacted:
                table = table.filter(pc.is_in(table.column("document_id"), pa.array(sorted(wanted), pa.string())))
            by_schema.setdefault(schema_name, []).append(table)
        return {name: latest_rows(pa.concat_tables(tables, promote_options="permissive"))
                for name, tables in by_schema.items()}
