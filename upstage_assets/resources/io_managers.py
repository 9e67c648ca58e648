"""IO managers over the result store: JSON documents and Parquet tables, local or S3.

The document pipeline writes each document's result itself, the moment it is done (see
``defs/pipeline/document_pipeline.py``), under the storage layout (``raw/``, ``parsed/``,
``kie/``, ``tables/``). These IO managers are how users' own assets read those results back,
partition-aware, from the same places, and how they write their own outputs atomically.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableIOManager, InputContext, OutputContext

from upstage_assets.defs.pipeline.keys import KIE_FIELDS, PARSED_LAYOUTS, RAW_DOCUMENTS
from upstage_assets.errors import DocumentError, UnsafeDocumentKey
from upstage_assets.resources.storage import StorageResource
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import UnsafeKeyError
from upstage_assets.storage.tables import read_tables


class MissingDocumentResult(DocumentError):
    code = "missing_result"
    retryable = False


def _partition_keys(context: InputContext | OutputContext) -> list[str] | None:
    if not context.has_asset_partitions:
        return None
    return list(context.asset_partition_keys)


def folder_for(asset_path: list[str], layout: OutputLayout) -> str:
    """The pipeline's assets live in the layout's folders; any other asset in a folder of its key."""
    by_asset = {RAW_DOCUMENTS.path[-1]: layout.raw, PARSED_LAYOUTS.path[-1]: layout.parsed,
                KIE_FIELDS.path[-1]: layout.kie}
    if len(asset_path) == 1 and asset_path[0] in by_asset:
        return by_asset[asset_path[0]]
    return "/".join(asset_path)


class DocumentJsonIOManager(ConfigurableIOManager):
    """``{document_id: json}`` for the partitions asked for (all stored ones when unpartitioned)."""

    storage: StorageResource

    def _folder(self, context: InputContext | OutputContext) -> str:
        return folder_for(list(context.asset_key.path), self.storage.layout)

    def _key(self, folder: str, document_id: str) -> str:
        """``<folder>/<id>.json``; an id that is not one path segment is refused before any I/O."""
        try:
            return f"{folder}/{self.storage.layout.document_segment(document_id)}.json"
        except UnsafeDocumentKey as exc:  # the store's error, as for any other unsafe key
            raise UnsafeKeyError(str(exc)) from exc

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:
            return
        store = self.storage.output_store()
        folder = self._folder(context)
        items = obj.items() if isinstance(obj, dict) and _partition_keys(context) else [("all", obj)]
        paths, sizes = [], []
        for key, value in items:
            data = json.dumps(value, ensure_ascii=False, default=str).encode()  # whole, before the write
            paths.append(store.write_bytes(self._key(folder, str(key)), data))
            sizes.append(len(data))
        context.add_output_metadata({"objects": len(paths), "first_path": paths[0] if paths else "",
                                     "bytes": sum(sizes)})

    def load_input(self, context: InputContext) -> dict[str, Any]:
        """Every asked-for document's JSON; a partition without a stored result is an error, not ``{}``."""
        store = self.storage.output_store()
        folder = self._folder(context)
        keys = _partition_keys(context)
        if keys is None:
            return {i.key[len(folder) + 1:-len(".json")]: json.loads(store.read_bytes(i.key))
                    for i in store.list(folder) if i.key.endswith(".json")}
        missing = [k for k in keys if not store.exists(self._key(folder, k))]
        if missing:
            raise MissingDocumentResult(
                f"{len(missing)} of {len(keys)} documents have no {context.asset_key.to_user_string()} result "
                f"under {folder}/ (e.g. {missing[:3]}): materialize them first")
        return {k: json.loads(store.read_bytes(self._key(folder, k))) for k in keys}


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
        """The one table reader: newest row per document, quarantined ones removed."""
        keys = _partition_keys(context)
        return read_tables(self.storage.output_store(), self.storage.layout, documents=keys)
