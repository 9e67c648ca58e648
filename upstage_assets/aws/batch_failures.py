"""Turn a failed AWS Batch job description into an error that says what happened and what to do.

Batch reports failures in three places (job statusReason, each attempt's statusReason, the
container's exitCode/reason); these rules read them the way an operator would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SPOT_REASON_PREFIX = "Host EC2"
START_FAILURE_MARKERS = ("CannotPullContainerError", "CannotStartContainerError", "ResourceInitializationError",
                         "CannotCreateContainerError", "CannotInspectContainerError", "OutOfMemoryError")


class BatchJobError(RuntimeError):
    """A Batch job ended in FAILED; `job_id`, `attempts` and `log_stream` locate it."""

    hint = "see the job's CloudWatch log stream"

    def __init__(self, detail: str, job_id: str, attempts: int, log_stream: str | None):
        where = f"log stream {log_stream}" if log_stream else "no log stream (the container never started)"
        super().__init__(f"AWS Batch job {job_id} {detail} after {attempts} attempt(s); {where}. {self.hint}.")
        self.job_id, self.attempts, self.log_stream = job_id, attempts, log_stream


class BatchSpotInterrupted(BatchJobError):
    hint = "Spot capacity was reclaimed on every attempt: retry later, raise retryStrategy.attempts, or add an on-demand compute environment to the queue"


class BatchContainerFailed(BatchJobError):
    hint = "the worker code failed: its traceback is in the log stream"

    def __init__(self, detail: str, job_id: str, attempts: int, log_stream: str | None, exit_code: int):
        super().__init__(detail, job_id, attempts, log_stream)
        self.exit_code = exit_code


class BatchJobTimedOut(BatchJobError):
    hint = "raise the job definition's attemptDurationSeconds or send fewer documents per job"


class BatchJobCouldNotStart(BatchJobError):
    hint = "check the image URI/tag exists in ECR, the execution role, and that the instance type has enough memory/GPU"


class BatchJobCancelled(BatchJobError):
    hint = "someone or something cancelled or terminated it"


def _attempt_reasons(job: Mapping[str, Any]) -> list[str]:
    return [str(a.get("statusReason") or "") for a in job.get("attempts") or []]


def _container(job: Mapping[str, Any]) -> Mapping[str, Any]:
    return job.get("container") or {}


def latest_log_stream(job: Mapping[str, Any]) -> str | None:
    attempts = job.get("attempts") or []
    for attempt in reversed(attempts):
        stream = (attempt.get("container") or {}).get("logStreamName")
        if stream:
            return str(stream)
    stream = _container(job).get("logStreamName")
    return str(stream) if stream else None


def classify_failure(job: Mapping[str, Any]) -> BatchJobError:
    """The most specific error for a FAILED job description (as returned by DescribeJobs)."""
    job_id = str(job.get("jobId", "?"))
    attempts = job.get("attempts") or []
    n_attempts = max(len(attempts), 1) if attempts else 0
    stream = latest_log_stream(job)
    status_reason = str(job.get("statusReason") or "")
    attempt_reasons = _attempt_reasons(job)
    container = _container(job)
    last_container = (attempts[-1].get("container") or {}) if attempts else container
    container_reason = str(last_container.get("reason") or container.get("reason") or "")
    exit_code = last_container.get("exitCode", container.get("exitCode"))

    if attempt_reasons and all(r.startswith(SPOT_REASON_PREFIX) for r in attempt_reasons):
        return BatchSpotInterrupted(f"lost its Spot host ({attempt_reasons[-1]})", job_id, n_attempts, stream)
    if "timeout" in status_reason.lower() or any("timeout" in r.lower() for r in attempt_reasons[-1:]):
        return BatchJobTimedOut(f"timed out ({status_reason or attempt_reasons[-1]})", job_id, n_attempts, stream)
    if any(marker in container_reason or marker in status_reason for marker in START_FAILURE_MARKERS):
        reason = container_reason or status_reason
        return BatchJobCouldNotStart(f"could not start its container ({reason})", job_id, n_attempts, stream)
    if isinstance(exit_code, int) and exit_code != 0:
        return BatchContainerFailed(f"exited with code {exit_code}", job_id, n_attempts, stream, exit_code)
    if not attempts and status_reason:
        return BatchJobCancelled(f"was stopped before running ({status_reason})", job_id, 0, stream)
    return BatchJobError(f"failed ({status_reason or 'no reason given'})", job_id, n_attempts, stream)
