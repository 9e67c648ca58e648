"""``s3_event_documents``: S3 event notifications on an SQS queue become partitions and runs.

Listing a large bucket every tick does not scale (a LIST page per thousand keys, every
pass); S3 can instead tell the queue about each new object. A tick long-polls the queue
within its time budget, hands each batch of messages to ``ingest/s3_events.py`` (read, hash,
registry write) and deletes the settled messages only after that write. The partitions and
runs are returned to Dagster like the listing sensor's. A message that keeps failing is
left on the queue and SQS's redrive policy moves it to the dead-letter queue.

The gap: if the daemon dies after the messages were deleted but before it stored the
tick's partitions, those documents are in the registry but are not partitions; the listing
scan (``new_s3_documents``, kept as an hourly reconciliation while the queue is set) finds
and requests them, as it finds anything the events missed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dagster import SensorDefinition, SensorEvaluationContext, SensorResult, sensor

from upstage_assets.defs.pipeline.jobs import batched_run_requests, process_documents_job
from upstage_assets.defs.pipeline.partitions import documents_partitions
from upstage_assets.defs.sensors.inbox import sensor_status
from upstage_assets.defs.sensors.known import KnownPartitions
from upstage_assets.ingest.s3_events import EventBatchResult, EventIntake, EventLimits, Message, describe
from upstage_assets.resources.storage import StorageResource
from upstage_assets.settings import Settings
from upstage_assets.storage.object_store import S3ObjectStore

SQS_MAX_BATCH = 10  # ReceiveMessage and DeleteMessageBatch take at most 10


def sqs_client_for(storage: StorageResource) -> Any:
    """An SQS client beside the storage's S3 one (same endpoint and region: moto and LocalStack serve both)."""
    import boto3

    return boto3.client("sqs", endpoint_url=storage.s3.endpoint_url or None,
                        region_name=storage.s3.region_name or None)


class QueueTick:
    """One tick: receive in batches, settle each batch, delete what settled, until the budget ends."""

    def __init__(self, sqs: Any, queue_url: str, intake: EventIntake, limits: EventLimits):
        self.sqs, self.queue_url, self.intake, self.limits = sqs, queue_url, intake, limits
        self.started = time.monotonic()
        self.received = 0
        self.total = EventBatchResult()

    def remaining_s(self) -> float:
        return self.limits.time_budget_s - (time.monotonic() - self.started)

    def receive(self, first: bool) -> list[Message]:
        """Up to ``batch_messages`` messages; an empty list means the queue looked empty."""
        batch: list[Message] = []
        wait = self.limits.wait_s if first else 1
        while len(batch) < self.limits.batch_messages and self.received + len(batch) < self.limits.max_messages:
            wait = max(0, min(wait, int(self.remaining_s())))
            want = min(SQS_MAX_BATCH, self.limits.batch_messages - len(batch),
                       self.limits.max_messages - self.received - len(batch))
            hidden = {} if self.limits.visibility_timeout_s is None else {
                "VisibilityTimeout": self.limits.visibility_timeout_s}
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=want,
                                              WaitTimeSeconds=wait, **hidden)
            got = [Message(m["MessageId"], m["ReceiptHandle"], m.get("Body", ""))
                   for m in answer.get("Messages", [])]
            batch.extend(got)
            if not got or self.remaining_s() <= 0:
                break
            wait = 0  # keep draining what is already there
        self.received += len(batch)
        return batch

    def delete(self, messages: list[Message]) -> None:
        for start in range(0, len(messages), SQS_MAX_BATCH):
            chunk = messages[start:start + SQS_MAX_BATCH]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m.receipt_handle} for n, m in enumerate(chunk)])

    def retry_later(self, messages: list[Message]) -> None:
        """Failed messages come back after ``retry_after_s`` (each receive counts toward the DLQ)."""
        for start in range(0, len(messages), SQS_MAX_BATCH):
            chunk = messages[start:start + SQS_MAX_BATCH]
            self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": self.limits.retry_after_s}
                for n, m in enumerate(chunk)])

    def run(self) -> EventBatchResult:
        with ThreadPoolExecutor(max_workers=self.limits.workers, thread_name_prefix="s3-events") as pool:
            first = True
            while self.remaining_s() > 0 and self.received < self.limits.max_messages:
                messages = self.receive(first)
                first = False
                if not messages:
                    break
                batch = self.intake.settle(messages, pool)  # the registry is written here
                self.delete(batch.settled)
                self.retry_later([m for m, _ in batch.unsettled])
                self._add(batch)
        return self.total

    def _add(self, batch: EventBatchResult) -> None:
        known = set(self.total.new_ids)  # new in an earlier batch of this tick: requested once
        self.total.new_records.extend(r for r in batch.new_records if r.document_id not in known)
        self.total.duplicates += batch.duplicates
        self.total.skipped += batch.skipped
        self.total.failures.extend(batch.failures)
        self.total.settled.extend(batch.settled)
        self.total.unsettled.extend(batch.unsettled)


def s3_events_tick(context: SensorEvaluationContext, storage: StorageResource, settings: Settings,
                   limits: EventLimits, documents_per_run: int, name: str = "s3_event_documents",
                   sqs_factory: Callable[[StorageResource], Any] = sqs_client_for) -> SensorResult:
    """The sensor's body (``sqs_factory``: tests wrap the client to inject a crash)."""
    queue_url = settings.s3_event_queue_url
    if not queue_url:
        return SensorResult(skip_reason="UPSTAGE_ASSETS_S3_EVENT_QUEUE_URL is not set")
    if not storage.inbox.startswith("s3://"):
        return SensorResult(skip_reason=f"the inbox {storage.inbox} is not an s3:// prefix")
    inbox = storage.inbox_store()
    assert isinstance(inbox, S3ObjectStore)
    known = KnownPartitions(context.instance)
    intake = EventIntake(inbox, storage.output_store(), storage.registry(), known.__contains__,
                         settings.default_schema, limits, failure_run_id=f"sensor:{name}")
    result = QueueTick(sqs_factory(storage), queue_url, intake, limits).run()
    counts = describe(result)
    context.log.info(", ".join(f"{k}: {v}" for k, v in counts.items()))
    for message, why in result.unsettled:
        context.log.warning(f"message {message.message_id} left for a retry: {why}")
    new_ids = result.new_ids
    if not new_ids:
        return SensorResult(skip_reason=f"no new documents ({counts})")
    return SensorResult(
        run_requests=batched_run_requests(new_ids, documents_per_run, reason="S3 event",
                                          run_key_prefix="s3-event"),
        dynamic_partitions_requests=[documents_partitions.build_add_request(new_ids)],
    )


def build_s3_events_sensor(settings: Settings, name: str = "s3_event_documents",
                           limits: EventLimits | None = None, minimum_interval_seconds: int = 30,
                           documents_per_run: int | None = None,
                           sqs_factory: Callable[[StorageResource], Any] = sqs_client_for) -> SensorDefinition:
    event_limits = limits or EventLimits()
    per_run = documents_per_run or settings.documents_per_run

    @sensor(name=name, job=process_documents_job, minimum_interval_seconds=minimum_interval_seconds,
            default_status=sensor_status(settings),
            description="Registers the objects named by S3 event notifications on an SQS queue "
                        "(UPSTAGE_ASSETS_S3_EVENT_QUEUE_URL) and requests runs of up to "
                        f"{per_run} documents; a message is deleted only after the registry write.")
    def _s3_event_documents(context: SensorEvaluationContext, storage: StorageResource) -> SensorResult:
        return s3_events_tick(context, storage, settings, event_limits, per_run, name, sqs_factory)

    return _s3_event_documents
