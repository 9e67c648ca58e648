"""Registering the objects that S3 event notifications name (the SQS intake's core).

S3 sends one message per event (``ObjectCreated:*``) to an SQS queue; the sensor receives a
batch and hands the messages here. Each named object is read and hashed (SHA-256): the
document id is the content hash, so a repeated, late or out-of-order event, or the same
bytes under another key, settles as a duplicate and never becomes a second document.

A message is *settled* when every object it names is registered, known, skipped (not a
document, outside the inbox) or gone; only settled messages may be deleted, and only after
the registry write (``settle`` writes before it returns). A message that cannot be parsed, or
names an object that cannot be read, stays on the queue: SQS delivers it again and, after the
queue's ``maxReceiveCount``, moves it to the dead-letter queue.

"Known" means *is a partition* (``is_partition``), not "is in the registry": a document whose
registry record was written by a tick that then died (before its partitions were added) is
requested again when its event is redelivered, exactly once.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from upstage_assets.errors import EmptyDocument
from upstage_assets.ingest.naming import (
    REGISTRATION_STAGE,
    document_id_for_sha256,
    explicit_schema_for_key,
    failure_id_for_source,
    sha256_hex,
    skip_reason,
)
from upstage_assets.inspection import SUPPORTED_EXTENSIONS
from upstage_assets.storage.failures import record_failure
from upstage_assets.storage.object_store import ObjectStore, S3ObjectStore, is_missing_object, read_s3_object
from upstage_assets.storage.registry import DocumentRecord, DocumentRegistry

logger = logging.getLogger(__name__)


class NotAnS3Event(ValueError):
    """The message body is not an S3 event notification (a poison message)."""


@dataclass(frozen=True)
class ObjectEvent:
    bucket: str
    key: str  # decoded (S3 URL-encodes keys in events)


@dataclass(frozen=True)
class Message:
    """What the sensor received: the body and the handle that deletes it."""

    message_id: str
    receipt_handle: str
    body: str


def parse_events(body: str) -> list[ObjectEvent]:
    """The created objects a message names; ``[]`` for ``s3:TestEvent`` and other event kinds.

    Accepts S3's own JSON and the same wrapped in an SNS envelope (``Message``).
    """
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and "Records" not in payload and isinstance(payload.get("Message"), str):
            payload = json.loads(payload["Message"])  # S3 -> SNS -> SQS
    except (TypeError, ValueError) as exc:
        raise NotAnS3Event(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise NotAnS3Event("not a JSON object")
    if payload.get("Event") == "s3:TestEvent":
        return []
    records = payload.get("Records")
    if not isinstance(records, list):
        raise NotAnS3Event("no Records")
    events = []
    for record in records:
        try:
            name = str(record["eventName"])
            bucket = str(record["s3"]["bucket"]["name"])
            key = unquote_plus(str(record["s3"]["object"]["key"]))
        except (KeyError, TypeError):
            raise NotAnS3Event("a record without eventName/s3.bucket.name/s3.object.key") from None
        if name.startswith("ObjectCreated:"):
            events.append(ObjectEvent(bucket, key))
    return events


@dataclass(frozen=True)
class EventLimits:
    max_messages: int = 1000  # messages settled per tick
    time_budget_s: float = 20.0  # stop receiving after this long (the sensor timeout is 60 s)
    wait_s: int = 4  # the first receive's long poll: an idle tick costs about this
    batch_messages: int = 100  # messages settled (read, registered, deleted) together
    workers: int = 16
    retry_after_s: int = 30  # a failed message is visible again after this long
    # Received messages stay hidden this long (above a tick's budget, so no message comes back to
    # another receive while its tick still works on it); None: the queue's own VisibilityTimeout.
    visibility_timeout_s: int | None = 120
    suffixes: tuple[str, ...] = SUPPORTED_EXTENSIONS


@dataclass
class EventBatchResult:
    new_records: list[DocumentRecord] = field(default_factory=list)
    duplicates: int = 0  # objects whose bytes already were a partition
    skipped: int = 0  # not a document, outside the inbox, or gone
    failures: list[tuple[str, str]] = field(default_factory=list)  # (URI, failure id): zero-byte objects
    settled: list[Message] = field(default_factory=list)  # delete these (registry written)
    unsettled: list[tuple[Message, str]] = field(default_factory=list)  # (message, why): left for a retry

    @property
    def new_ids(self) -> list[str]:
        return [r.document_id for r in self.new_records]


@dataclass(frozen=True)
class _Read:
    uri: str
    relative: str
    sha256: str | None = None
    size: int = 0
    settled_as: str | None = None  # "skipped" | "empty" when there is nothing to register
    error: str | None = None


class EventIntake:
    """Settles batches of messages against one inbox prefix and the registry."""

    def __init__(self, inbox: S3ObjectStore, output: ObjectStore, registry: DocumentRegistry,
                 is_partition: Callable[[str], bool], default_schema: str, limits: EventLimits,
                 failure_run_id: str = "sensor:s3-events"):
        self.inbox, self.output, self.registry = inbox, output, registry
        self.is_partition, self.default_schema = is_partition, default_schema
        self.limits, self.failure_run_id = limits, failure_run_id
        self._prefix = f"{inbox.prefix}/" if inbox.prefix else ""

    def _read(self, event: ObjectEvent) -> _Read:
        uri = f"s3://{event.bucket}/{event.key}"
        if event.bucket != self.inbox.bucket or not event.key.startswith(self._prefix):
            return _Read(uri, event.key, settled_as="skipped")
        relative = event.key[len(self._prefix):]
        if skip_reason(relative, self.limits.suffixes):
            return _Read(uri, relative, settled_as="skipped")
        from botocore.exceptions import ClientError

        try:
            data = read_s3_object(self.inbox.client, event.bucket, event.key)
        except ClientError as exc:
            if is_missing_object(exc):
                return _Read(uri, relative, settled_as="skipped")  # deleted since: nothing to register
            return _Read(uri, relative, error=f"cannot read {uri} ({type(exc).__name__})")
        except Exception as exc:  # one unreadable object must not stop the batch
            return _Read(uri, relative, error=f"cannot read {uri} ({type(exc).__name__})")
        if not data:
            return _Read(uri, relative, settled_as="empty")
        return _Read(uri, relative, sha256_hex(data), len(data))

    def settle(self, messages: list[Message], pool: ThreadPoolExecutor) -> EventBatchResult:
        """Read every named object, write the registry, and say which messages may be deleted."""
        result = EventBatchResult()
        parsed: list[tuple[Message, list[ObjectEvent]]] = []
        for message in messages:
            try:
                parsed.append((message, parse_events(message.body)))
            except NotAnS3Event as exc:
                result.unsettled.append((message, str(exc)))
        all_reads = list(pool.map(self._read, [e for _, events in parsed for e in events]))
        registered = self._registered([r for r in all_reads if r.sha256], pool)
        reads = iter(all_reads)
        to_write: dict[str, DocumentRecord] = {}
        new_ids: list[str] = []
        for message, events in parsed:
            message_reads = [next(reads) for _ in events]
            errors = [r.error for r in message_reads if r.error]
            if errors:  # nothing of it is registered: the whole message is retried
                result.unsettled.append((message, errors[0]))
                continue
            for read in message_reads:
                self._settle_read(read, registered, to_write, new_ids, result)
            result.settled.append(message)
        list(pool.map(self.registry.put, to_write.values()))  # before any message is deleted
        result.new_records = [to_write[i] for i in new_ids]
        return result

    def _registered(self, reads: list[_Read], pool: ThreadPoolExecutor) -> dict[str, DocumentRecord | None]:
        """Registry records of the read documents that are not partitions yet (looked up in parallel)."""
        ids = list(dict.fromkeys(document_id_for_sha256(r.sha256) for r in reads if r.sha256))
        known = list(pool.map(self.is_partition, ids))  # one indexed lookup each, side by side
        candidates = [i for i, is_known in zip(ids, known, strict=True) if not is_known]
        return dict(zip(candidates, pool.map(self.registry.get, candidates), strict=True))

    def _settle_read(self, read: _Read, registered: dict[str, DocumentRecord | None],
                     to_write: dict[str, DocumentRecord], new_ids: list[str], result: EventBatchResult) -> None:
        if read.settled_as == "skipped":
            result.skipped += 1
            return
        if read.settled_as == "empty":
            failure_id = failure_id_for_source(read.uri)
            record_failure(self.output, self.registry.layout, document_id=failure_id, source_uri=read.uri,
                           stage=REGISTRATION_STAGE, error=EmptyDocument(f"{read.uri} is a zero-byte object"),
                           run_id=self.failure_run_id)
            result.failures.append((read.uri, failure_id))
            return
        assert read.sha256 is not None
        document_id = document_id_for_sha256(read.sha256)
        explicit = explicit_schema_for_key(read.relative)
        schema = explicit or self.default_schema
        pending = to_write.get(document_id)
        if pending is not None:  # the same bytes twice in this batch: one record, every source
            to_write[document_id] = pending.with_source(read.uri, schema, explicit is not None) or pending
            result.duplicates += 1
            return
        if document_id not in registered:  # already a partition
            result.duplicates += 1
            self.registry.add_source(document_id, read.uri, schema, explicit is not None)
            return
        earlier = registered[document_id]  # registered by a tick that died before adding its partitions
        record = (earlier.with_source(read.uri, schema, explicit is not None) or earlier) if earlier \
            else DocumentRecord(document_id=document_id, source_uri=read.uri, sha256=read.sha256,
                                size_bytes=read.size, filename=posixpath.basename(read.relative), schema=schema,
                                schema_explicit=explicit is not None)
        to_write[document_id] = record
        new_ids.append(document_id)


def describe(result: EventBatchResult) -> dict[str, Any]:
    """Counts for logs and benchmarks (no URIs: they may name customers)."""
    return {"new": len(result.new_records), "duplicates": result.duplicates, "skipped": result.skipped,
            "empty": len(result.failures), "settled": len(result.settled), "retried": len(result.unsettled)}
