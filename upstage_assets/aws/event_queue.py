"""The S3 -> SQS event intake's resources, for `upstage-assets aws bootstrap`.

A dead-letter queue, the inbox queue (its redrive policy sends a message there after
``MAX_RECEIVES`` failed deliveries; its access policy lets only this bucket's S3 send to it)
and the bucket notification for ``ObjectCreated:*`` under ``inbox/``. Each step is idempotent
like the rest of the bootstrap: a second run finds everything as wanted and changes nothing.
Other notification configurations on the bucket are kept (which is why this is not part of the
CloudFormation stack: a stack's bucket NotificationConfiguration replaces every other rule), and
`aws teardown` removes only what this module added.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

INBOX_PREFIX = "inbox/"
MAX_RECEIVES = 5  # deliveries before a message is dead-lettered
VISIBILITY_TIMEOUT_S = 300  # well above a sensor tick (60 s)
DLQ_RETENTION_S = 14 * 24 * 3600  # SQS's maximum: time to look at what failed
NOTIFICATION_ID = "upstage-assets-inbox-events"


def queue_names(prefix: str) -> tuple[str, str]:
    """(queue, dead-letter queue) names."""
    return f"{prefix}-inbox-events", f"{prefix}-inbox-events-dlq"


def queue_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account_id}:{name}"


def queue_policy(queue: str, bucket: str, account_id: str) -> str:
    """Only this bucket, in this account, may send to the queue."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "s3-inbox-events", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": queue,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                      "StringEquals": {"aws:SourceAccount": account_id}}}]}, sort_keys=True)


def _queue_url(sqs: Any, name: str) -> str | None:
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as err:
        if "NonExistentQueue" in str(err.response.get("Error", {}).get("Code", "")):
            return None
        raise


def _normal_json(text: str) -> Any:
    """SQS answers ``maxReceiveCount`` as a number whatever was sent."""
    value = json.loads(text)
    if isinstance(value, dict) and "maxReceiveCount" in value:
        value["maxReceiveCount"] = int(value["maxReceiveCount"])
    return value


def _attributes_match(sqs: Any, name: str, wanted: dict[str, str]) -> bool:
    url = _queue_url(sqs, name)
    if url is None:
        return False
    have = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(wanted))["Attributes"]
    for key, value in wanted.items():
        got = have.get(key)
        if key in ("Policy", "RedrivePolicy"):
            if got is None or _normal_json(got) != _normal_json(value):
                return False
        elif str(got) != value:
            return False
    return True


def _ensure_queue(sqs: Any, name: str, wanted: dict[str, str]) -> None:
    url = _queue_url(sqs, name)
    if url is None:
        sqs.create_queue(QueueName=name, Attributes=wanted)
    else:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=wanted)


def ensure_event_queue(b: Any) -> None:
    """Add the dead-letter queue, the queue and the bucket notification steps to the plan of ``b``
    (the ``Bootstrapper``; typed loosely so this module does not import it back)."""
    s, sqs = b.s, b.sqs
    queue, dlq = queue_names(s.prefix)
    arn, dlq_arn = queue_arn(s.region, s.account_id, queue), queue_arn(s.region, s.account_id, dlq)
    dlq_wanted = {"MessageRetentionPeriod": str(DLQ_RETENTION_S)}
    b._step("sqs-queue", dlq, lambda: _attributes_match(sqs, dlq, dlq_wanted),
            lambda: _ensure_queue(sqs, dlq, dlq_wanted))
    wanted = {"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S),
              "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}),
              "Policy": queue_policy(arn, s.bucket_name, s.account_id)}
    b._step("sqs-queue", queue, lambda: _attributes_match(sqs, queue, wanted),
            lambda: _ensure_queue(sqs, queue, wanted))
    ours = {"Id": NOTIFICATION_ID, "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": INBOX_PREFIX}]}}}

    def current() -> dict[str, Any]:
        try:
            config = b.s3.get_bucket_notification_configuration(Bucket=s.bucket_name)
        except ClientError as err:
            if b.dry_run:  # the bucket itself is still to be created
                return {}
            raise err
        config.pop("ResponseMetadata", None)
        return config

    def _normal(rule: dict[str, Any]) -> Any:
        rules = rule.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        return (rule.get("QueueArn"), sorted(rule.get("Events", [])),
                sorted((r["Name"].lower(), r["Value"]) for r in rules))

    def exists() -> bool:
        mine = [c for c in current().get("QueueConfigurations", []) if c.get("Id") == NOTIFICATION_ID]
        return len(mine) == 1 and _normal(mine[0]) == _normal(ours)

    def create() -> None:
        config = current()
        config["QueueConfigurations"] = [
            *(c for c in config.get("QueueConfigurations", []) if c.get("Id") != NOTIFICATION_ID), ours]
        b.s3.put_bucket_notification_configuration(Bucket=s.bucket_name, NotificationConfiguration=config)

    b._step("s3-notification", f"s3://{s.bucket_name}/{INBOX_PREFIX} -> {queue}", exists, create)


def remove_event_queue(s3: Any, sqs: Any, s: Any) -> list[str]:
    """Undo ``ensure_event_queue``: our notification rule (others stay), the queue and its DLQ."""
    done: list[str] = []
    try:
        config = s3.get_bucket_notification_configuration(Bucket=s.bucket_name)
    except ClientError:
        config = None  # no bucket: nothing notifies
    if config is not None:
        config.pop("ResponseMetadata", None)
        rules = config.get("QueueConfigurations", [])
        kept = [c for c in rules if c.get("Id") != NOTIFICATION_ID]
        if len(kept) != len(rules):
            config["QueueConfigurations"] = kept
            s3.put_bucket_notification_configuration(Bucket=s.bucket_name, NotificationConfiguration=config)
            done.append(f"deleted s3-notification {s.bucket_name}/{INBOX_PREFIX}")
    for name in queue_names(s.prefix):
        url = _queue_url(sqs, name)
        if url is not None:
            sqs.delete_queue(QueueUrl=url)
            done.append(f"deleted sqs-queue {name}")
    return done
