"""PipesBatchClient against moto's Batch and CloudWatch Logs over HTTP.

What moto cannot run is stubbed, and only that: moto's Batch (use_docker=False) accepts a job and
marks it finished but starts no container and writes no logs. `BatchWithLocalContainer` stands in
for the container (the job's command, as DescribeJobs reports it, run as a local subprocess with the
job's environment; "python" is this venv's interpreter) and for the awslogs driver (the process's
stdout is put into the job's CloudWatch log stream, in moto). Submission, job state, the log group
lookup and log reading all go through moto.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from dagster import AssetExecutionContext, asset, materialize

from upstage_assets.aws.batch_failures import BatchJobError
from upstage_assets.aws.batch_pipes import PipesBatchClient, job_name_for
from upstage_assets_tests.deploy.conftest import BootstrapRuns, MotoEndpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
QUEUE, JOB_DEFINITION = "upstage-assets-gpu-spot", "upstage-assets-gpu-step"


class BatchWithLocalContainer:
    """The real boto3 Batch client, plus the container + log shipping that moto does not run."""

    def __init__(self, real: Any, logs: Any):
        self.real, self.logs = real, logs
        self.submitted: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def submit_job(self, **kwargs: Any) -> dict[str, Any]:
        self.submitted.append(kwargs)
        response = self.real.submit_job(**kwargs)
        (job,) = self.real.describe_jobs(jobs=[response["jobId"]])["jobs"]
        container = job["container"]
        if job["status"] == "SUCCEEDED":  # moto decided the outcome; only a "successful" job ran code
            self._run_container(container, job_definition=kwargs["jobDefinition"])
        return response

    def _run_container(self, container: dict[str, Any], job_definition: str) -> None:
        command = [sys.executable if part == "python" else part for part in container["command"]]
        env = {e["name"]: e["value"] for e in container["environment"]}
        env.update(PATH=os.environ["PATH"], PYTHONPATH=str(REPO_ROOT))
        done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        (definition,) = self.real.describe_job_definitions(jobDefinitionName=job_definition)["jobDefinitions"][-1:]
        group = definition["containerProperties"]["logConfiguration"]["options"]["awslogs-group"]
        stream = container["logStreamName"]
        self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now + i, "message": line} for i, line in enumerate(done.stdout.splitlines())]
        self.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def _client(batch: Any) -> PipesBatchClient:
    return PipesBatchClient(batch_client=batch, logs_client=boto3.client("logs"),
                            poll_interval_s=0.2, log_drain_s=1.0)


@pytest.mark.slow
def test_batch_job_runs_documents_through_pipes(bootstrapped: BootstrapRuns, aws_env: MotoEndpoint,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    batch = BatchWithLocalContainer(boto3.client("batch"), boto3.client("logs"))
    seen: dict[str, Any] = {}

    @asset
    def page_images(context: AssetExecutionContext, pipes_batch: PipesBatchClient):  # type: ignore[no-untyped-def]
        invocation = pipes_batch.run(
            context=context, job_queue=QUEUE, job_definition=JOB_DEFINITION,
            documents=["doc-a1", "corrupt-b2", "doc-c3"],
            extras={"handler": "upstage_assets_tests.deploy.batch_handlers:key_stats"})
        seen["custom"] = invocation.get_custom_messages()
        seen["metadata"] = invocation.metadata
        return invocation.get_materialize_result()

    result = materialize([page_images], resources={"pipes_batch": _client(batch)})
    assert result.success

    (submitted,) = batch.submitted
    assert submitted["jobQueue"] == QUEUE and submitted["jobDefinition"] == JOB_DEFINITION
    assert submitted["retryStrategy"]["evaluateOnExit"][0] == {"onStatusReason": "Host EC2*", "action": "RETRY"}
    env_names = {e["name"] for e in submitted["containerOverrides"]["environment"]}
    assert {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES"} <= env_names

    assert [(m["document"], m["ok"]) for m in seen["custom"]] == [
        ("doc-a1", True), ("corrupt-b2", False), ("doc-c3", True)]
    assert seen["custom"][0]["metadata"] == {"chars": 6}
    (mat,) = result.asset_materializations_for_node("page_images")
    assert mat.metadata["documents"].value == 3 and mat.metadata["failed"].value == 1
    assert seen["metadata"]["AWS Batch attempts"].value == 1
    # Plain container output reached the step's stdout (compute logs); Pipes JSON did not.
    out = capfd.readouterr().out
    assert "handling doc-a1" in out and "handling doc-c3" in out
    assert '"__dagster_pipes_version"' not in out


def test_failed_job_fails_the_step_with_a_clear_error(bootstrapped: BootstrapRuns, aws_env: MotoEndpoint,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")  # moto's own switch: the job ends FAILED
    batch = BatchWithLocalContainer(boto3.client("batch"), boto3.client("logs"))

    @asset
    def doomed(context: AssetExecutionContext, pipes_batch: PipesBatchClient):  # type: ignore[no-untyped-def]
        return pipes_batch.run(context=context, job_queue=QUEUE, job_definition=JOB_DEFINITION,
                               documents=["doc-a1"], extras={"handler": "x:y"}).get_materialize_result()

    with pytest.raises(BatchJobError, match=r"AWS Batch job .* failed"):
        materialize([doomed], resources={"pipes_batch": _client(batch)})


def test_job_names_are_valid_for_batch() -> None:
    assert job_name_for("run 1/2:docs") == "run-1-2-docs"
    assert len(job_name_for("x" * 300)) == 128
