"""Manifests: a CSV or Parquet file that lists documents, one URI per row, plus columns to keep.

A manifest registers documents that live anywhere the storage resource can read (local
paths, ``s3://bucket/key``), with optional per-document columns (a customer id, a batch
name) that travel with the document into the output table's ``source_metadata`` column.
The URI column is the first of ``uri``, ``source_uri``, ``path``, ``key``; an optional
``schema`` column picks the extraction schema per row. Relative paths and keys are resolved
against the manifest's own folder or prefix.

Registration goes the same way as the inbox: the document id is the content hash, so a row
whose bytes are already a document is a duplicate (its columns are not applied to the
existing document). Rows that cannot be used are reported, never fatal to the rest.
``register_manifest`` is what the CLI calls; the ``new_manifests`` sensor
(``defs/sensors/manifests.py``) does the same for files dropped under ``<inbox>/_manifests/``.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from collections.abc import Container
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from upstage_assets.errors import DocumentError, DocumentTooLarge, EmptyDocument, SourceUnavailable
from upstage_assets.ingest.folder import IngestResult
from upstage_assets.ingest.naming import document_id_for_sha256, failure_id_for_source, sha256_hex
from upstage_assets.inspection import DocumentLimits
from upstage_assets.resources.storage import StorageResource
from upstage_assets.storage.failures import record_failure
from upstage_assets.storage.registry import DocumentRecord

URI_COLUMNS = ("uri", "source_uri", "path", "key")
SCHEMA_COLUMN = "schema"
MANIFEST_SUFFIXES = (".csv", ".parquet")
MANIFESTS_FOLDER = "_manifests"
READ_WORKERS = 8


class ManifestError(ValueError):
    """The manifest itself cannot be used (unreadable, no URI column, unknown format)."""


def read_manifest_rows(data: bytes, name: str) -> list[dict[str, Any]]:
    """Rows as dicts; CSV values stay strings, Parquet values keep their types."""
    lowered = name.lower()
    if lowered.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data)).to_pylist()
    if lowered.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    raise ManifestError(f"{name}: a manifest is a .csv or .parquet file")


def _uri_column(rows: list[dict[str, Any]], name: str) -> str:
    columns = list(rows[0]) if rows else []
    for candidate in URI_COLUMNS:
        if candidate in columns:
            return candidate
    raise ManifestError(f"{name}: no URI column (one of {', '.join(URI_COLUMNS)}); columns are {columns}")


def _resolve(value: str, manifest_uri: str) -> str:
    """A row's URI made absolute: relative entries are relative to the manifest's location."""
    if value.startswith("s3://") or Path(value).is_absolute():
        return value
    if manifest_uri.startswith("s3://"):
        return posixpath.join(posixpath.dirname(manifest_uri), value)
    return str((Path(manifest_uri).expanduser().resolve().parent / value).resolve())


def _extra(row: dict[str, Any], uri_column: str) -> dict[str, str]:
    extra = {}
    for name, value in row.items():
        if name in (uri_column, SCHEMA_COLUMN) or value is None or value == "":
            continue
        extra[str(name)] = value if isinstance(value, str) else json.dumps(value, default=str)
    return extra


def _schema_exists(name: str, cache: dict[str, bool]) -> bool:
    from upstage_assets.schemas.extraction import AUTO_SCHEMA, load_schema

    if name == AUTO_SCHEMA:  # routed by class at extraction time
        return True
    if name not in cache:
        try:
            load_schema(name)
            cache[name] = True
        except Exception:
            cache[name] = False
    return cache[name]


def register_manifest(path_or_uri: str, storage: StorageResource, default_schema: str, *,
                      known_ids: Container[str] | None = None, failure_run_id: str = "manifest",
                      max_bytes: int = DocumentLimits().max_bytes) -> IngestResult:
    """Register every row of a manifest; ``known_ids`` (existing partitions) overrides the registry check."""
    try:
        data = storage.read_source(path_or_uri)
    except DocumentError as exc:
        raise ManifestError(f"cannot read the manifest: {exc.message}") from None
    rows = read_manifest_rows(data, path_or_uri)
    result = IngestResult()
    if not rows:
        return result
    uri_column = _uri_column(rows, path_or_uri)
    registry = storage.registry()
    schemas: dict[str, bool] = {}
    usable: list[tuple[str, dict[str, Any]]] = []
    for number, row in enumerate(rows, start=1):
        value = str(row.get(uri_column) or "").strip()
        if not value:
            result.skipped.append((f"{path_or_uri} row {number}", "empty URI"))
            continue
        schema = str(row.get(SCHEMA_COLUMN) or "").strip() or default_schema
        if not _schema_exists(schema, schemas):
            result.skipped.append((value, f"unknown schema {schema!r}"))
            continue
        usable.append((_resolve(value, path_or_uri), row))

    def fingerprint(uri: str) -> tuple[str, int] | DocumentError:
        try:
            size = storage.source_size(uri)  # a 1 GB source is refused, not read into memory
            if size > max_bytes:
                return DocumentTooLarge(f"{uri} is {size:,} bytes; the limit is {max_bytes:,} bytes")
            body = storage.read_source(uri)
        except DocumentError as exc:
            return exc
        except OSError as exc:  # a folder, no permission
            return SourceUnavailable(f"{uri} cannot be read ({exc.strerror or type(exc).__name__})")
        return sha256_hex(body), len(body)

    with ThreadPoolExecutor(READ_WORKERS, thread_name_prefix="manifest") as pool:
        fingerprints = list(pool.map(fingerprint, [uri for uri, _ in usable]))
    seen_here: set[str] = set()
    for (uri, row), found in zip(usable, fingerprints, strict=True):
        if isinstance(found, DocumentError):
            record_failure(storage.output_store(), storage.layout, document_id=failure_id_for_source(uri),
                           source_uri=uri, stage="manifest", error=found, run_id=failure_run_id)
            result.skipped.append((uri, found.message))
            continue
        sha, size = found
        if size == 0:
            error = EmptyDocument(f"{uri} is empty")
            record_failure(storage.output_store(), storage.layout, document_id=failure_id_for_source(uri),
                           source_uri=uri, stage="manifest", error=error, run_id=failure_run_id)
            result.skipped.append((uri, "zero-byte object"))
            continue
        document_id = document_id_for_sha256(sha)
        known = document_id in known_ids if known_ids is not None else registry.contains(document_id)
        given = str(row.get(SCHEMA_COLUMN) or "").strip()
        if document_id in seen_here or known:
            result.duplicates.append(uri)
            registry.add_source(document_id, uri, given or default_schema, bool(given))
            continue
        seen_here.add(document_id)
        record = DocumentRecord(document_id=document_id, source_uri=uri, sha256=sha, size_bytes=size,
                                filename=posixpath.basename(uri.rstrip("/")),
                                schema=given or default_schema, schema_explicit=bool(given),
                                extra=_extra(row, uri_column))
        registry.put(record)
        result.new_records.append(record)
    return result
