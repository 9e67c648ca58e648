"""One bounded, resumable step of registering new documents from an S3 prefix.

A tick lists at most ``max_pages`` pages, continuing the current pass from the cursor's
``after`` key (S3 ``StartAfter``), so no tick lists a large bucket from the start; a pass
that reaches the end finishes, advances the LastModified watermark and the next tick begins
a new pass. Re-listing is how keys that arrive out of lexicographic order are found: an
object is only *read* when its key is new or its ETag/size changed (the checkpoint), so an
idle pass costs one LIST per thousand keys and no GETs.

Versions and content: the ETag + size is the cheap version of an object. A plain (single
part, non-KMS) ETag is the MD5 of the bytes, so a new key whose MD5 ETag + size is already
known is a copy and is not downloaded (``trust_md5_etag``; turn it off if you do not accept
MD5 as identity). Every other new version is downloaded and hashed with SHA-256, and the
document id (the partition key) comes from that hash: the same bytes under any key are one
document, an overwritten key with new bytes is a new one.

A tick stops after ``max_documents`` reads or ``time_budget_s`` and resumes there next tick,
so 10,000 new objects are registered over several ticks, each well inside the sensor timeout.
Reads and registry writes run on a small thread pool (boto3 clients are thread-safe).
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from upstage_assets.errors import EmptyDocument
from upstage_assets.ingest.naming import (
    REGISTRATION_STAGE,
    document_id_for_sha256,
    explicit_schema_for_key,
    failure_id_for_source,
    sha256_hex,
    skip_reason,
)
from upstage_assets.ingest.s3_state import (
    ScanCheckpoint,
    ScanCursor,
    SeenObject,
    load_checkpoint,
    save_checkpoint,
    scope_for,
)
from upstage_assets.inspection import SUPPORTED_EXTENSIONS
from upstage_assets.storage.failures import clear_failure, record_failure
from upstage_assets.storage.object_store import ObjectStore, S3ObjectStore, is_missing_object, read_s3_object
from upstage_assets.storage.registry import DocumentRecord, DocumentRegistry

UNREADABLE = -1  # the size a failed read reports
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class S3ScanLimits:
    max_documents: int = 1000  # object reads (GET + hash) per tick
    max_pages: int = 20  # LIST pages per tick
    page_size: int = 1000  # S3 returns at most 1000 keys per page
    time_budget_s: float = 20.0  # stop listing and reading after this long (sensor timeout is 60 s)
    workers: int = 16
    lookback_s: float = 24 * 3600.0  # clock skew + the longest multipart upload
    suffixes: tuple[str, ...] = SUPPORTED_EXTENSIONS
    trust_md5_etag: bool = True


@dataclass
class S3ScanResult:
    new_records: list[DocumentRecord] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # URIs whose bytes are already a document
    changed_ids: list[str] = field(default_factory=list)  # known documents a new source gave another schema
    failures: list[tuple[str, str]] = field(default_factory=list)  # (URI, failure id) recorded this tick
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> objects
    listed: int = 0
    pages: int = 0
    reads: int = 0  # objects downloaded and hashed
    pass_completed: bool = False
    budget_exhausted: bool = False  # more new objects may be waiting: resumed next tick
    cursor: str = ""

    @property
    def new_ids(self) -> list[str]:
        return [r.document_id for r in self.new_records]


def _is_md5_etag(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())


@dataclass(frozen=True)
class _Listed:
    key: str  # full bucket key
    relative: str  # relative to the inbox prefix
    etag: str
    size: int
    last_modified: float


class _Read(NamedTuple):
    obj: _Listed
    sha256: str | None  # None when the ETag already identified the bytes, or the object vanished
    document_id: str | None  # None when the object vanished before it could be read
    size: int


class _Tick:
    """The state of one scan call; ``run`` is the whole algorithm."""

    def __init__(self, inbox: S3ObjectStore, output: ObjectStore, registry: DocumentRegistry,
                 cursor: ScanCursor, is_partition: Callable[[str], bool], default_schema: str,
                 limits: S3ScanLimits, failure_run_id: str, pool: ThreadPoolExecutor):
        self.inbox, self.output, self.registry = inbox, output, registry
        self.cursor, self.limits, self.default_schema = cursor, limits, default_schema
        self.failure_run_id, self.pool = failure_run_id, pool
        self._is_partition = is_partition
        self._known: dict[str, bool] = {}  # document id -> is a partition (asked once per id)
        self.checkpoint: ScanCheckpoint = load_checkpoint(output, cursor)
        self.result = S3ScanResult()
        self.started = time.monotonic()

    def is_known(self, document_id: str) -> bool:
        """Whether the id is a partition (or is being added by this tick): one lookup per new id,
        so a tick's cost follows the objects it reads, not the partitions that already exist."""
        known = self._known.get(document_id)
        if known is None:
            known = self._known[document_id] = bool(self._is_partition(document_id))
        return known

    def over_budget(self) -> bool:
        return (self.result.reads >= self.limits.max_documents
                or time.monotonic() - self.started >= self.limits.time_budget_s)

    def classify(self, obj: _Listed) -> bool:
        """True when the object must be read; otherwise it is settled here."""
        reason = skip_reason(obj.relative, self.limits.suffixes)
        if reason:
            self.result.skipped[reason] += 1
            return False
        previous = self.checkpoint.seen.get(obj.key)
        if previous and previous.etag == obj.etag and previous.size == obj.size:
            return False
        if previous is None and obj.last_modified < self.cursor.watermark - self.limits.lookback_s:
            return False  # listed by an earlier complete pass and forgotten on purpose
        if obj.size == 0:
            self._record_zero_byte(obj)
            return False
        return True

    def _record_zero_byte(self, obj: _Listed) -> None:
        uri = self.inbox.uri(obj.relative)
        failure_id = failure_id_for_source(uri)
        record_failure(self.output, self.registry.layout, document_id=failure_id, source_uri=uri,
                       stage=REGISTRATION_STAGE, error=EmptyDocument(f"{uri} is a zero-byte object"),
                       run_id=self.failure_run_id)
        self.result.failures.append((uri, failure_id))
        self._remember(obj)

    def _remember(self, obj: _Listed, document_id: str | None = None) -> None:
        self.checkpoint.seen[obj.key] = SeenObject(obj.etag, obj.size, obj.last_modified)
        if document_id and _is_md5_etag(obj.etag):
            self.checkpoint.etags[f"{obj.etag}:{obj.size}"] = (document_id, obj.last_modified)
        self.checkpoint.dirty = True

    def _hash(self, obj: _Listed) -> _Read:
        if self.limits.trust_md5_etag and _is_md5_etag(obj.etag):
            known = self.checkpoint.etags.get(f"{obj.etag}:{obj.size}")
            if known:
                return _Read(obj, None, known[0], obj.size)
        return self._download_and_hash(obj)

    def _download_and_hash(self, obj: _Listed) -> _Read:
        from botocore.exceptions import ClientError

        try:
            data = read_s3_object(self.inbox.client, self.inbox.bucket, obj.key)
        except ClientError as exc:
            if is_missing_object(exc):
                return _Read(obj, None, None, 0)
            return self._unreadable(obj, exc)
        except Exception as exc:  # one object that cannot be read must not stop the tick
            return self._unreadable(obj, exc)
        sha = sha256_hex(data)  # of what was read: the key may have been overwritten since the listing
        return _Read(obj, sha, document_id_for_sha256(sha), len(data))

    def _unreadable(self, obj: _Listed, exc: Exception) -> _Read:
        """Skipped and reported; not remembered, so the next pass reads it again."""
        logger.warning("could not read %s: %s", obj.key, type(exc).__name__)
        return _Read(obj, None, None, UNREADABLE)

    def flush(self, pending: list[_Listed]) -> None:
        """Read the pending objects in parallel, then decide and register in listing order."""
        if not pending:
            return
        hashed = list(self.pool.map(self._hash, pending))
        self.result.reads += sum(1 for read in hashed if read.sha256 is not None)
        to_register: dict[str, DocumentRecord] = {}
        for obj, sha, document_id, size in hashed:
            uri = self.inbox.uri(obj.relative)
            if document_id is None:
                self.result.skipped["unreadable, retried next pass" if size == UNREADABLE
                                    else "vanished before it could be read"] += 1
                continue
            if sha is None and not self.is_known(document_id):
                # Known by ETag but never became a partition (an interrupted tick): read it after all.
                obj, sha, document_id, size = self._download_and_hash(obj)
                self.result.reads += 1
                if document_id is None:
                    self.result.skipped["vanished before it could be read"] += 1
                    continue
            previous = self.checkpoint.seen.get(obj.key)
            if previous is not None and previous.size == 0:
                clear_failure(self.output, self.registry.layout, failure_id_for_source(uri))
            explicit = explicit_schema_for_key(obj.relative)
            schema = explicit or self.default_schema
            if sha is None or self.is_known(document_id):
                self.result.duplicates.append(uri)
                pending_record = to_register.get(document_id)
                if pending_record is not None:  # the same bytes twice in this tick: one record, every source
                    to_register[document_id] = pending_record.with_source(uri, schema, explicit is not None) \
                        or pending_record
                elif self.registry.add_source(document_id, uri, schema, explicit is not None):
                    self.result.changed_ids.append(document_id)
            else:
                to_register[document_id] = DocumentRecord(
                    document_id=document_id, source_uri=uri, sha256=sha, size_bytes=size,
                    filename=posixpath.basename(obj.relative), schema=schema, schema_explicit=explicit is not None)
                self._known[document_id] = True
            self._remember(obj, document_id)
        list(self.pool.map(self.registry.put, to_register.values()))
        self.result.new_records.extend(to_register.values())

    def _list_page(self, token: str | None) -> dict[str, Any]:
        prefix = f"{self.inbox.prefix}/" if self.inbox.prefix else ""
        kwargs: dict[str, Any] = {"Bucket": self.inbox.bucket, "Prefix": prefix, "MaxKeys": self.limits.page_size}
        if token:
            kwargs["ContinuationToken"] = token
        elif self.cursor.after:
            kwargs["StartAfter"] = self.cursor.after
        return self.inbox.client.list_objects_v2(**kwargs)

    def run(self) -> S3ScanResult:
        if not self.cursor.after:
            self.cursor.pass_started_at = time.time()
        strip = len(f"{self.inbox.prefix}/") if self.inbox.prefix else 0
        chunk = max(1, self.limits.workers * 4)
        token: str | None = None
        pending: list[_Listed] = []
        stopped = False
        while self.result.pages < self.limits.max_pages and not stopped:
            page = self._list_page(token)
            self.result.pages += 1
            for entry in page.get("Contents", []):
                self.result.listed += 1
                obj = _Listed(entry["Key"], entry["Key"][strip:], str(entry.get("ETag", "")).strip('"'),
                              int(entry["Size"]), entry["LastModified"].timestamp())
                if self.classify(obj):
                    pending.append(obj)
                room = self.limits.max_documents - self.result.reads
                if len(pending) >= min(chunk, room) or (pending and self.over_budget()):
                    self.flush(pending)
                    pending = []
                self.cursor.after = obj.key  # everything up to here is settled once pending is flushed
                if self.over_budget():
                    self.result.budget_exhausted = stopped = True
                    break
            self.flush(pending)
            pending = []
            if stopped:
                break
            if not page.get("IsTruncated"):
                self._finish_pass()
                break
            token = page.get("NextContinuationToken")
        self.result.cursor = save_checkpoint(self.output, self.cursor, self.checkpoint).to_json()
        return self.result

    def _finish_pass(self) -> None:
        self.result.pass_completed = True
        self.cursor.watermark = self.cursor.pass_started_at
        self.cursor.passes += 1
        self.cursor.after = ""
        self.checkpoint.prune(self.cursor.watermark - self.limits.lookback_s)


def scan_s3_inbox(inbox: S3ObjectStore, output: ObjectStore, registry: DocumentRegistry, *,
                  cursor: str | None, is_partition: Callable[[str], bool], default_schema: str,
                  limits: S3ScanLimits | None = None, failure_run_id: str = "sensor") -> S3ScanResult:
    """Register what is new under the inbox since ``cursor``; the result carries the next cursor.

    ``is_partition`` says whether a document id already is a partition (asked once per id
    read, never for the whole set): a document registered but never added as a partition (a
    crash between the two) is requested again.
    """
    limits = limits or S3ScanLimits()
    parsed = ScanCursor.parse(cursor, scope_for(inbox.root_uri))
    with ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="s3-scan") as pool:
        return _Tick(inbox, output, registry, parsed, is_partition, default_schema, limits, failure_run_id, pool).run()
