"""Registering documents: from a folder or S3 prefix to registry records and partition keys.

Shared by the inbox sensors and the CLI so every path into the platform de-duplicates the
same way: the partition key is the content hash, so the same bytes under two names, or
uploaded twice, are one document and cost nothing the second time.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from upstage_assets.errors import (
    DocumentError,
    DocumentTooLarge,
    EmptyDocument,
    InternalError,
    SourceUnavailable,
    UnsafeSourceName,
)
from upstage_assets.ingest.naming import (
    REGISTRATION_STAGE,
    document_id_for_sha256,
    explicit_schema_for_key,
    failure_id_for_source,
    sha256_hex,
    skip_reason,
)
from upstage_assets.inspection import DocumentLimits
from upstage_assets.redaction import redact
from upstage_assets.storage.failures import clear_failure, record_failure
from upstage_assets.storage.object_store import ObjectInfo, ObjectStore, UnsafeKeyError
from upstage_assets.storage.registry import DocumentRecord, DocumentRegistry

INBOX_INDEX_KEY = "state/inbox_index.json"


@dataclass
class IngestResult:
    new_records: list[DocumentRecord] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # source URIs whose bytes were already registered
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source URI, reason)
    remaining: int = 0  # candidates left for the next call (work is chunked)
    retry_later: list[str] = field(default_factory=list)  # keys that failed to read: looked at again next pass
    changed_ids: list[str] = field(default_factory=list)  # known documents a new source gave another schema

    @property
    def new_ids(self) -> list[str]:
        return [r.document_id for r in self.new_records]


def register_objects(
    source: ObjectStore,
    registry: DocumentRegistry,
    candidates: list[ObjectInfo],
    *,
    default_schema: str,
    known_ids: set[str] | None = None,
    extra_for: Callable[[str], dict] | None = None,
    max_bytes: int = DocumentLimits().max_bytes,
) -> IngestResult:
    """Hash each candidate, register the ones whose bytes are new; return what happened.

    Empty and over-size objects are refused from their listed size, before a byte is read (a
    1 GB file must not be read into memory to be refused), and recorded in the failures table
    under an id derived from their URI; registering the fixed file later clears that failure.
    """
    result = IngestResult()
    known = set(known_ids or ())
    for info in candidates:
        refusal: DocumentError | None = None
        try:
            uri = source.uri(info.key)
        except UnsafeKeyError:  # one oddly named file must not stop the whole inbox
            uri = f"{source.root_uri.rstrip('/')}/{info.key}"
            refusal = UnsafeSourceName(f"{uri!r} has a name that cannot be addressed safely (backslashes or "
                                       "'..' segments); rename it")
        if refusal is None and info.size == 0:
            refusal = EmptyDocument(f"{uri} is empty (0 bytes)")
        elif refusal is None and info.size > max_bytes:
            refusal = DocumentTooLarge(f"{uri} is {info.size:,} bytes; the limit is {max_bytes:,} bytes")
        if refusal is not None:
            record_failure(registry.store, registry.layout, document_id=failure_id_for_source(uri), source_uri=uri,
                           stage=REGISTRATION_STAGE, error=refusal, run_id="registration")
            result.skipped.append((uri, "zero-byte object" if isinstance(refusal, EmptyDocument) else refusal.message))
            continue
        try:
            _register_one(source, registry, info, uri, default_schema, known, extra_for, result)
        except Exception as exc:  # one unreadable object is recorded and retried next pass; the rest go on
            error = (SourceUnavailable(f"{uri} could not be read: {type(exc).__name__}: {redact(str(exc))[:200]}")
                     if isinstance(exc, OSError) else InternalError.from_exception(exc, REGISTRATION_STAGE))
            try:
                record_failure(registry.store, registry.layout, document_id=failure_id_for_source(uri),
                               source_uri=uri, stage=REGISTRATION_STAGE, error=error, run_id="registration")
            except Exception:  # the store itself is failing: the skip reason still says why
                pass
            result.skipped.append((uri, error.message))
            result.retry_later.append(info.key)
    return result


def _register_one(source: ObjectStore, registry: DocumentRegistry, info: ObjectInfo, uri: str,
                  default_schema: str, known: set[str], extra_for: Callable[[str], dict] | None,
                  result: IngestResult) -> None:
    data = source.read_bytes(info.key)
    clear_failure(registry.store, registry.layout, failure_id_for_source(uri))
    sha = sha256_hex(data)
    document_id = document_id_for_sha256(sha)
    explicit = explicit_schema_for_key(info.key)
    if document_id in known or registry.contains(document_id):
        result.duplicates.append(uri)
        known.add(document_id)
        if registry.add_source(document_id, uri, explicit or default_schema, explicit is not None):
            result.changed_ids.append(document_id)
        return
    record = DocumentRecord(document_id=document_id, source_uri=uri, sha256=sha, size_bytes=len(data),
                            filename=posixpath.basename(info.key), schema=explicit or default_schema,
                            schema_explicit=explicit is not None, extra=(extra_for(uri) if extra_for else {}))
    registry.put(record)
    known.add(document_id)
    result.new_records.append(record)


def load_index(store: ObjectStore) -> dict[str, str]:
    """Source key -> version already looked at (so unchanged files are not hashed again)."""
    if not store.exists(INBOX_INDEX_KEY):
        return {}
    return json.loads(store.read_bytes(INBOX_INDEX_KEY))


def save_index(store: ObjectStore, index: dict[str, str]) -> None:
    store.write_bytes(INBOX_INDEX_KEY, json.dumps(index, separators=(",", ":")).encode())


def scan_inbox(source: ObjectStore, output: ObjectStore, registry: DocumentRegistry, *, default_schema: str,
               max_documents: int = 1000) -> IngestResult:
    """One pass over an inbox: register new or changed objects, at most ``max_documents`` per pass."""
    index = load_index(output)
    candidates: list[ObjectInfo] = []
    skipped: list[tuple[str, str]] = []
    remaining = 0
    for info in source.list():
        if index.get(info.key) == info.version:
            continue
        reason = skip_reason(info.key)
        if reason:
            skipped.append((source.uri(info.key), reason))
            index[info.key] = info.version
            continue
        if len(candidates) >= max_documents:
            remaining += 1
            continue
        candidates.append(info)
    result = register_objects(source, registry, candidates, default_schema=default_schema)
    retry_later = set(result.retry_later)
    for info in candidates:
        if info.key not in retry_later:
            index[info.key] = info.version
    result.skipped.extend(skipped)
    result.remaining = remaining
    save_index(output, index)
    return result
