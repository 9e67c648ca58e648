"""Dagster Pipes client for AWS Batch (dagster-aws ships ECS, EMR, Glue and Lambda ones, not Batch).

`PipesBatchClient.run` submits one Batch job carrying a batch of documents (in the Pipes extras),
then polls it: each attempt's CloudWatch log stream is read as it grows, Pipes messages in it are
handed to Dagster and every other line is forwarded to the step's stdout (compute logs).
Spot reclaims are retried by Batch itself (the job's retryStrategy); messages from every attempt
are read, in order, because a retried attempt writes to a new stream. A FAILED job raises a
specific `BatchJobError` subclass (batch_failures.py).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

import boto3
from dagster import (
    AssetExecutionContext,
    DagsterExecutionInterruptedError,
    MetadataValue,
    OpExecutionContext,
    PipesClient,
    PipesClientCompletedInvocation,
    PipesEnvContextInjector,
    PipesMessageHandler,
    PipesMessageReader,
    open_pipes_session,
)
from dagster_pipes import PipesDefaultMessageWriter, PipesParams

from upstage_assets.aws.batch_failures import BatchJobError, classify_failure, latest_log_stream
from upstage_assets.aws.plan import spot_retry_strategy
from upstage_assets.dagster_compat import TreatAsResourceParam, extract_message_or_forward_to_file

TERMINAL = {"SUCCEEDED", "FAILED"}
DEFAULT_LOG_GROUP = "/aws/batch/job"


class PipesBatchLogsMessageReader(PipesMessageReader):
    """Reads Pipes messages from the job's CloudWatch streams, pulled by the client's poll loop."""

    def __init__(self, forward_to: IO[str] | None = None):
        self._handler: PipesMessageHandler | None = None
        self._forward_to = forward_to

    @contextmanager
    def read_messages(self, handler: PipesMessageHandler) -> Iterator[PipesParams]:
        self._handler = handler
        try:
            yield {PipesDefaultMessageWriter.STDIO_KEY: PipesDefaultMessageWriter.STDOUT}
        finally:
            self._handler = None

    def consume_lines(self, lines: Sequence[str]) -> None:
        if self._handler is None:
            raise RuntimeError("consume_lines called outside the Pipes session")
        for line in lines:
            if line:
                extract_message_or_forward_to_file(self._handler, line, self._forward_to or sys.stdout)

    def no_messages_debug_text(self) -> str:
        return "Read Pipes messages from the AWS Batch job's CloudWatch log streams (stdout of the container)."


class _StreamTail:
    """Incremental reader of one CloudWatch log stream (GetLogEvents with a forward token)."""

    def __init__(self, logs: Any, group: str, stream: str):
        self.logs, self.group, self.stream = logs, group, stream
        self.token: str | None = None

    def read_new(self) -> list[str]:
        lines: list[str] = []
        while True:
            kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamName": self.stream, "startFromHead": True}
            if self.token:
                kwargs["nextToken"] = self.token
            try:
                response = self.logs.get_log_events(**kwargs)
            except self.logs.exceptions.ResourceNotFoundException:
                return lines  # the stream appears a little after the container starts
            events = response.get("events", [])
            lines.extend(line for e in events for line in str(e.get("message", "")).splitlines())
            new_token = response.get("nextForwardToken")
            if not events or new_token == self.token:
                self.token = new_token
                return lines
            self.token = new_token


def job_name_for(name: str) -> str:
    """Batch job names: letters, digits, hyphens, underscores, at most 128 characters."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:128] or "upstage-assets"


class PipesBatchClient(PipesClient, TreatAsResourceParam):
    """Runs a document batch as an AWS Batch job, with Dagster Pipes over CloudWatch Logs."""

    def __init__(self, batch_client: Any = None, logs_client: Any = None, poll_interval_s: float = 10.0,
                 log_drain_s: float = 15.0, forward_termination: bool = True,
                 message_reader: PipesBatchLogsMessageReader | None = None):
        self.batch = batch_client or boto3.client("batch")
        self.logs = logs_client or boto3.client("logs")
        self.poll_interval_s = poll_interval_s
        self.log_drain_s = log_drain_s  # CloudWatch may show the last lines seconds after the job ends
        self.forward_termination = forward_termination
        self.message_reader = message_reader or PipesBatchLogsMessageReader()
        self._log_groups: dict[str, str] = {}

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def run(  # type: ignore[override]
        self, *, context: OpExecutionContext | AssetExecutionContext, job_queue: str, job_definition: str,
        documents: Sequence[str] = (), job_name: str | None = None, command: Sequence[str] | None = None,
        environment: Mapping[str, str] | None = None, retry_strategy: Mapping[str, Any] | None = None,
        timeout_s: float | None = None, extras: Mapping[str, Any] | None = None,
    ) -> PipesClientCompletedInvocation:
        """Submit, follow and finish one job; returns once it SUCCEEDED, raises BatchJobError otherwise."""
        with open_pipes_session(context=context, message_reader=self.message_reader,
                                context_injector=PipesEnvContextInjector(),
                                extras={**(extras or {}), "documents": list(documents)}) as session:
            env = {**(environment or {}), **session.get_bootstrap_env_vars()}
            overrides: dict[str, Any] = {"environment": [{"name": k, "value": v} for k, v in env.items()]}
            if command is not None:
                overrides["command"] = list(command)
            submitted = self.batch.submit_job(
                jobName=job_name_for(job_name or f"{context.run_id[:8]}-{len(documents)}-docs"),
                jobQueue=job_queue, jobDefinition=job_definition, containerOverrides=overrides,
                retryStrategy=dict(retry_strategy or spot_retry_strategy()),
                tags={k: str(v)[:256] for k, v in session.default_remote_invocation_info.items()},
                propagateTags=True)
            job_id = submitted["jobId"]
            context.log.info(f"[pipes] submitted AWS Batch job {job_id} with {len(documents)} document(s)")
            try:
                job = self._follow(context, job_id, job_definition, timeout_s)
            except DagsterExecutionInterruptedError:
                if self.forward_termination:
                    context.log.warning(f"[pipes] interrupted: terminating AWS Batch job {job_id}")
                    self.batch.terminate_job(jobId=job_id, reason="Dagster step was interrupted")
                raise
            if job["status"] == "FAILED":
                raise classify_failure(job)
        context.log.info(f"[pipes] AWS Batch job {job_id} succeeded after {len(job.get('attempts') or [1])} attempt(s)")
        region = self.batch.meta.region_name
        return PipesClientCompletedInvocation(session, metadata={
            "AWS Batch job id": job_id,
            "AWS Batch attempts": len(job.get("attempts") or []),
            "AWS Batch job URL": MetadataValue.url(
                f"https://{region}.console.aws.amazon.com/batch/home?region={region}#jobs/detail/{job_id}"),
        })

    def _follow(self, context: Any, job_id: str, job_definition: str, timeout_s: float | None) -> dict[str, Any]:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        tails: dict[str, _StreamTail] = {}
        status = None
        while True:
            (job,) = self.batch.describe_jobs(jobs=[job_id])["jobs"]
            if job["status"] != status:
                status = job["status"]
                context.log.info(f"[pipes] AWS Batch job {job_id}: {status}")
            self._read_streams(job, job_definition, tails)
            if status in TERMINAL:
                self._drain(job, job_definition, tails)
                return job
            if deadline is not None and time.monotonic() > deadline:
                self.batch.terminate_job(jobId=job_id, reason=f"Dagster timeout after {timeout_s}s")
                raise BatchJobError(f"was terminated by Dagster after {timeout_s}s", job_id,
                                    len(job.get("attempts") or []), latest_log_stream(job))
            time.sleep(self.poll_interval_s)

    def _streams(self, job: Mapping[str, Any]) -> list[str]:
        streams = [str((a.get("container") or {}).get("logStreamName")) for a in job.get("attempts") or []
                   if (a.get("container") or {}).get("logStreamName")]
        current = (job.get("container") or {}).get("logStreamName")
        if current and current not in streams:
            streams.append(str(current))
        return streams

    def _read_streams(self, job: Mapping[str, Any], job_definition: str, tails: dict[str, _StreamTail]) -> int:
        group = self._log_group(job, job_definition)
        count = 0
        for stream in self._streams(job):
            tail = tails.setdefault(stream, _StreamTail(self.logs, group, stream))
            lines = tail.read_new()
            count += len(lines)
            self.message_reader.consume_lines(lines)
        return count

    def _drain(self, job: Mapping[str, Any], job_definition: str, tails: dict[str, _StreamTail]) -> None:
        """Keep reading until the streams are quiet (or log_drain_s passes): the tail lags the job."""
        deadline = time.monotonic() + self.log_drain_s
        while time.monotonic() < deadline:
            time.sleep(min(self.poll_interval_s, 2.0))
            if self._read_streams(job, job_definition, tails) == 0 and tails:
                return

    def _log_group(self, job: Mapping[str, Any], job_definition: str) -> str:
        options = ((job.get("container") or {}).get("logConfiguration") or {}).get("options") or {}
        if "awslogs-group" in options:
            return str(options["awslogs-group"])
        if job_definition not in self._log_groups:
            definitions = self.batch.describe_job_definitions(jobDefinitions=[job_definition])["jobDefinitions"] \
                if ":" in job_definition else self.batch.describe_job_definitions(
                    jobDefinitionName=job_definition, status="ACTIVE")["jobDefinitions"]
            group = DEFAULT_LOG_GROUP
            if definitions:
                latest = max(definitions, key=lambda d: d.get("revision", 0))
                opts = ((latest.get("containerProperties") or {}).get("logConfiguration") or {}).get("options") or {}
                group = str(opts.get("awslogs-group", DEFAULT_LOG_GROUP))
            self._log_groups[job_definition] = group
        return self._log_groups[job_definition]
