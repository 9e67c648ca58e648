"""Failure mapping on DescribeJobs payloads shaped as AWS documents them (moto cannot produce these)."""

from __future__ import annotations

from typing import Any

import pytest

from upstage_assets.aws.batch_failures import (
    BatchContainerFailed,
    BatchJobCancelled,
    BatchJobCouldNotStart,
    BatchJobError,
    BatchJobTimedOut,
    BatchSpotInterrupted,
    classify_failure,
)


def _attempt(reason: str, exit_code: int | None = None, stream: str = "upstage-assets-gpu-step/default/a1",
             container_reason: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"logStreamName": stream}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if container_reason:
        container["reason"] = container_reason
    return {"container": container, "statusReason": reason, "startedAt": 1, "stoppedAt": 2}


def _job(status_reason: str, attempts: list[dict[str, Any]], **container: Any) -> dict[str, Any]:
    return {"jobId": "job-123", "status": "FAILED", "statusReason": status_reason,
            "attempts": attempts, "container": container}


def test_spot_reclaimed_on_every_attempt() -> None:
    attempts = [_attempt(f"Host EC2 (instance i-0{n}) terminated.", stream=f"s/{n}") for n in range(3)]
    err = classify_failure(_job("Host EC2 (instance i-02) terminated.", attempts))
    assert isinstance(err, BatchSpotInterrupted)
    assert "3 attempt(s)" in str(err) and "log stream s/2" in str(err) and "on-demand" in str(err)


def test_spot_then_code_failure_is_a_code_failure() -> None:
    attempts = [_attempt("Host EC2 (instance i-01) terminated."),
                _attempt("Essential container in task exited", exit_code=1, stream="s/last")]
    err = classify_failure(_job("Essential container in task exited", attempts, exitCode=1))
    assert isinstance(err, BatchContainerFailed) and err.exit_code == 1
    assert err.attempts == 2 and err.log_stream == "s/last"


def test_timeout() -> None:
    err = classify_failure(_job("Job attempt duration exceeded timeout", [_attempt("")]))
    assert isinstance(err, BatchJobTimedOut) and "attemptDurationSeconds" in str(err)


def test_image_pull_failure() -> None:
    attempts = [_attempt("Task failed to start", container_reason="CannotPullContainerError: pull image manifest "
                         "has been retried 5 time(s): not found")]
    err = classify_failure(_job("Task failed to start", attempts))
    assert isinstance(err, BatchJobCouldNotStart) and "ECR" in str(err)


def test_cancelled_before_running() -> None:
    err = classify_failure(_job("Dagster step was interrupted", []))
    assert isinstance(err, BatchJobCancelled) and "no log stream" in str(err)


def test_unknown_failure_still_names_the_job() -> None:
    err = classify_failure({"jobId": "job-9", "status": "FAILED"})
    assert type(err) is BatchJobError and "job-9" in str(err) and "no reason given" in str(err)


@pytest.mark.parametrize("secret", ["sk-live-abcdef"])
def test_errors_do_not_echo_container_environment(secret: str) -> None:
    job = _job("Essential container in task exited", [_attempt("x", exit_code=2)], exitCode=2,
               environment=[{"name": "UPSTAGE_API_KEY", "value": secret}])
    assert secret not in str(classify_failure(job))
