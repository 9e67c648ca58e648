"""``s3_event_documents`` against moto over HTTP: S3 notifications to SQS, a DLQ, a crash mid-tick.

The bucket's real notification configuration sends the events (moto delivers them to its
SQS as S3 would); nothing is mocked except the one crash, injected by wrapping the real SQS
client so its first delete raises, as if the process died between the registry write and
the delete.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from typing import Any

import boto3
import pytest

from upstage_assets.defs.sensors.s3_events import build_s3_events_sensor, sqs_client_for
from upstage_assets.ingest.naming import document_id_for_bytes
from upstage_assets.ingest.s3_events import EventLimits, NotAnS3Event, parse_events
from upstage_assets.settings import Settings
from upstage_assets_tests.s3.conftest import Ticker

FAST = EventLimits(wait_s=1, time_budget_s=120.0, retry_after_s=0, workers=8)


def doc(n: int) -> bytes:
    return b"%PDF-1.4 event test " + str(n).encode() + b"\n%%EOF\n"


def make_queue(bucket, *, max_receives: int = 3, visibility_s: int = 30) -> tuple[Any, str, str]:
    """A queue with a dead-letter queue, and the bucket's inbox/ notifications sent to it."""
    sqs = boto3.client("sqs", endpoint_url=bucket.endpoint, region_name="us-east-1")
    name = f"events-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(visibility_s),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bucket.client.put_bucket_notification_configuration(Bucket=bucket.name, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "inbox/"}]}}}]})
    return sqs, url, dlq_url


def queued(sqs, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def requested(ticks) -> int:
    return sum(int(r.tags["upstage_assets/documents"]) for t in ticks for r in t.run_requests)


def ticker_for(bucket, instance, url: str, limits: EventLimits = FAST, **kwargs) -> Ticker:
    sensor = build_s3_events_sensor(Settings(s3_event_queue_url=url), limits=limits, **kwargs)
    return Ticker(sensor, instance, bucket.storage())


def test_parse_events_reads_s3_and_sns_wrapped_messages_and_rejects_garbage():
    record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "inbox/a+b%21.pdf"}}}
    removed = {**record, "eventName": "ObjectRemoved:Delete"}
    body = json.dumps({"Records": [record, removed]})
    assert [(e.bucket, e.key) for e in parse_events(body)] == [("b", "inbox/a b!.pdf")]
    assert parse_events(json.dumps({"Type": "Notification", "Message": body}))[0].key == "inbox/a b!.pdf"
    assert parse_events(json.dumps({"Event": "s3:TestEvent", "Bucket": "b"})) == []
    for poison in ("not json", "[]", json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]})):
        with pytest.raises(NotAnS3Event):
            parse_events(poison)


def test_events_register_each_document_once_whatever_the_repeats(bucket, dagster_instance):
    sqs, url, _ = make_queue(bucket)
    for n in range(12):
        bucket.put(f"inbox/d{n}.pdf", doc(n))
    bucket.put("inbox/receipt/copy-of-3.pdf", doc(3))  # same bytes, another key and schema
    bucket.put("inbox/notes.txt", b"not a document")
    bucket.put("inbox/empty.pdf", b"")
    bucket.put("elsewhere/d99.pdf", doc(99))  # outside the notification's prefix: no event
    ticker = ticker_for(bucket, dagster_instance, url, documents_per_run=5)
    first = ticker.tick()
    assert sorted(dagster_instance.get_dynamic_partitions("documents")) == \
        sorted(document_id_for_bytes(doc(n)) for n in range(12))
    assert requested([first]) == 12 and queued(sqs, url) == 0
    record = ticker.storage.registry().get(document_id_for_bytes(doc(3)))
    assert record is not None and record.schema == "receipt" and len(record.all_sources()) == 2

    # Repeated and late events (S3 delivers at least once, in any order): nothing new.
    bucket.put("inbox/d0.pdf", doc(0))
    bucket.put("inbox/again/d5.pdf", doc(5))
    later = ticker.tick()
    assert not later.run_requests and "no new documents" in later.skip_message
    assert len(dagster_instance.get_dynamic_partitions("documents")) == 12 and queued(sqs, url) == 0


def test_a_poison_message_goes_to_the_dead_letter_queue(bucket, dagster_instance):
    sqs, url, dlq_url = make_queue(bucket, max_receives=2)
    sqs.send_message(QueueUrl=url, MessageBody="this is not an S3 event")
    bucket.put("inbox/good.pdf", doc(1))
    ticker = ticker_for(bucket, dagster_instance, url)
    ticks = [ticker.tick() for _ in range(4)]
    assert requested(ticks) == 1
    assert dagster_instance.get_dynamic_partitions("documents") == [document_id_for_bytes(doc(1))]
    assert queued(sqs, url) == 0
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == ["this is not an S3 event"]


class _DiesAtFirstDelete:
    """The real SQS client, except that the first delete of the test raises (the process 'dies' there)."""

    crashed = False

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_message_batch(self, **kwargs: Any) -> Any:
        if not _DiesAtFirstDelete.crashed:
            _DiesAtFirstDelete.crashed = True
            raise RuntimeError("killed between the registry write and the delete")
        return self._client.delete_message_batch(**kwargs)


def test_a_crash_between_registry_write_and_delete_causes_no_duplicate(bucket, dagster_instance):
    sqs, url, _ = make_queue(bucket, visibility_s=1)
    for n in range(6):
        bucket.put(f"inbox/c{n}.pdf", doc(n))
    _DiesAtFirstDelete.crashed = False
    ticker = ticker_for(bucket, dagster_instance, url, limits=dataclasses.replace(FAST, visibility_timeout_s=None),
                        sqs_factory=lambda storage: _DiesAtFirstDelete(sqs_client_for(storage)))
    with pytest.raises(Exception) as crash:
        ticker.tick()
    assert _DiesAtFirstDelete.crashed and "killed between" in repr(crash.value.__cause__ or crash.value)
    ids = sorted(document_id_for_bytes(doc(n)) for n in range(6))
    assert sorted(ticker.storage.registry().document_ids()) == ids  # written before the crash
    assert dagster_instance.get_dynamic_partitions("documents") == []  # the tick's result was lost
    time.sleep(1.5)  # the undeleted messages become visible again
    ticks = [ticker.tick() for _ in range(3)]
    assert sorted(dagster_instance.get_dynamic_partitions("documents")) == ids
    assert requested(ticks) == 6 and queued(sqs, url) == 0


@pytest.mark.slow
def test_a_thousand_uploads_are_registered_exactly_once(bucket, dagster_instance):
    from concurrent.futures import ThreadPoolExecutor

    sqs, url, _ = make_queue(bucket)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: bucket.put(f"inbox/{n % 10}/k{n:04d}.pdf", doc(n)), range(1000)))
    ticker = ticker_for(bucket, dagster_instance, url, limits=EventLimits(wait_s=1, time_budget_s=300.0,
                                                                          max_messages=1000, workers=8))
    ticks = []
    for _ in range(5):
        ticks.append(ticker.tick())
        if not ticks[-1].run_requests:
            break
    partitions = dagster_instance.get_dynamic_partitions("documents")
    assert len(partitions) == len(set(partitions)) == 1000
    assert set(partitions) == {document_id_for_bytes(doc(n)) for n in range(1000)}
    assert requested(ticks) == 1000 and queued(sqs, url) == 0
    assert len(ticker.storage.registry().document_ids()) == 1000
