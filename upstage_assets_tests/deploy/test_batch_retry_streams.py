"""A Spot-retried Batch job writes each attempt to its own CloudWatch stream: the client must read
them all, in attempt order. moto cannot retry a job, so the DescribeJobs payload is written here in
the shape AWS returns after one Spot reclaim; the log streams are real ones in moto."""

from __future__ import annotations

import io
import json
import time

import boto3
from dagster import build_asset_context
from dagster._core.pipes.context import PipesMessageHandler

from upstage_assets.aws.batch_pipes import PipesBatchClient, PipesBatchLogsMessageReader
from upstage_assets_tests.deploy.conftest import BootstrapRuns, MotoEndpoint

GROUP = "/upstage-assets"


def _pipes(method: str, params: dict | None = None) -> str:
    return json.dumps({"__dagster_pipes_version": "0.1", "method": method, "params": params})


def _put(logs, stream: str, lines: list[str]) -> None:  # type: ignore[no-untyped-def]
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=GROUP, logStreamName=stream,
                        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])


def test_messages_from_every_attempt_are_read_in_order(bootstrapped: BootstrapRuns, aws_env: MotoEndpoint) -> None:
    logs = boto3.client("logs")
    first, second = "upstage-assets-gpu-step/default/att-1", "upstage-assets-gpu-step/default/att-2"
    _put(logs, first, [_pipes("opened", {}), "handling doc-1",
                       _pipes("report_custom_message", {"payload": {"document": "doc-1"}})])
    _put(logs, second, [_pipes("opened", {}), _pipes("report_custom_message", {"payload": {"document": "doc-1"}}),
                        _pipes("report_custom_message", {"payload": {"document": "doc-2"}}), "handling doc-2",
                        _pipes("closed", {})])
    job = {"jobId": "j-1", "status": "SUCCEEDED",
           "attempts": [{"container": {"logStreamName": first}, "statusReason": "Host EC2 (instance i-1) terminated."},
                        {"container": {"logStreamName": second}, "statusReason": "Essential container in task exited"}],
           "container": {"logStreamName": second}}
    forwarded = io.StringIO()
    reader = PipesBatchLogsMessageReader(forward_to=forwarded)
    client = PipesBatchClient(batch_client=boto3.client("batch"), logs_client=logs, message_reader=reader)
    handler = PipesMessageHandler(build_asset_context(), reader)
    tails: dict = {}
    with reader.read_messages(handler):
        assert client._read_streams(job, "upstage-assets-gpu-step", tails) == 8
        assert client._read_streams(job, "upstage-assets-gpu-step", tails) == 0  # nothing read twice

    assert [m["document"] for m in handler.get_custom_messages()] == ["doc-1", "doc-1", "doc-2"]
    assert handler.received_closed_message
    assert forwarded.getvalue().splitlines() == ["handling doc-1", "handling doc-2"]
