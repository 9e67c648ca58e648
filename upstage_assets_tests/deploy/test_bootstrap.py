"""`upstage-assets aws bootstrap` against moto over HTTP: creates everything once, then nothing."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

import boto3
import pytest

from upstage_assets.aws.plan import BUCKET_PREFIXES
from upstage_assets_tests.deploy.conftest import FAKE_API_KEY, BootstrapRuns, MotoEndpoint, run_bootstrap

pytestmark = pytest.mark.slow  # one moto account bootstrapped three times (~10 s on a busy box)

BUCKET = "upstage-assets-123456789012-us-east-1"


def _lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.startswith("  ")]


def test_dry_run_plans_everything_and_changes_nothing(bootstrapped: BootstrapRuns) -> None:
    planned = _lines(bootstrapped.dry_run)
    assert planned and all(line.startswith("create") for line in planned)
    # The dry run came first, yet the first real run still had everything to create.
    created = _lines(bootstrapped.first)
    assert [line.split()[1:] for line in created] == [line.split()[1:] for line in planned]
    assert all(line.startswith("create") for line in created)


def test_second_run_changes_nothing(bootstrapped: BootstrapRuns) -> None:
    second = _lines(bootstrapped.second)
    assert len(second) == len(_lines(bootstrapped.first))
    assert all(line.startswith("exists") for line in second), second
    assert f"0 changed, {len(second)} already in place" in bootstrapped.second


def test_resources_exist_as_planned(bootstrapped: BootstrapRuns, aws_env: MotoEndpoint) -> None:
    s3 = boto3.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == set(BUCKET_PREFIXES)
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]["BlockPublicAcls"]

    assert boto3.client("ecr").describe_repositories(repositoryNames=["upstage-assets"])["repositories"]
    secrets = boto3.client("secretsmanager")
    assert secrets.get_secret_value(SecretId="upstage-assets/upstage-api-key")["SecretString"] == FAKE_API_KEY

    iam = boto3.client("iam")
    trust = iam.get_role(RoleName="upstage-assets-task")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"]["Service"] == "ecs-tasks.amazonaws.com"
    attached = iam.list_attached_role_policies(RoleName="upstage-assets-execution")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonECSTaskExecutionRolePolicy"]

    ecs = boto3.client("ecs")
    cluster = ecs.describe_clusters(clusters=["upstage-assets"])["clusters"][0]
    assert set(cluster["capacityProviders"]) == {"FARGATE", "FARGATE_SPOT"}
    task_def = ecs.describe_task_definition(taskDefinition="upstage-assets-run")["taskDefinition"]
    assert task_def["revision"] == 1  # the second bootstrap did not register a new revision
    (container,) = task_def["containerDefinitions"]
    assert container["name"] == "run"
    assert container["image"].endswith("/upstage-assets:abc123")
    assert {s["name"] for s in container["secrets"]} == {"UPSTAGE_API_KEY", "DAGSTER_POSTGRES_URL"}
    assert FAKE_API_KEY not in json.dumps(task_def)

    batch = boto3.client("batch")
    (env,) = batch.describe_compute_environments(computeEnvironments=["upstage-assets-gpu-spot"])[
        "computeEnvironments"]
    assert env["computeResources"]["type"] == "SPOT"
    assert env["computeResources"]["minvCpus"] == 0
    (queue,) = batch.describe_job_queues(jobQueues=["upstage-assets-gpu-spot"])["jobQueues"]
    assert queue["computeEnvironmentOrder"][0]["computeEnvironment"].endswith("upstage-assets-gpu-spot")
    (job_def,) = batch.describe_job_definitions(jobDefinitionName="upstage-assets-gpu-step")["jobDefinitions"]
    assert {"type": "GPU", "value": "1"} in job_def["containerProperties"]["resourceRequirements"]
    first_rule = job_def["retryStrategy"]["evaluateOnExit"][0]
    assert (first_rule["onStatusReason"], first_rule["action"].upper()) == ("Host EC2*", "RETRY")

    logs = boto3.client("logs")
    (group,) = logs.describe_log_groups(logGroupNamePrefix="/upstage-assets")["logGroups"]
    assert group["retentionInDays"] == 30


def test_changed_image_registers_a_new_revision_only(bootstrapped: BootstrapRuns, aws_env: MotoEndpoint,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTAGE_API_KEY", "a-different-key-that-must-not-replace-the-stored-one")
    code, out = run_bootstrap(["--image-tag", "def456", "--prefix", "upstage-assets"])
    assert code == 0
    changed = [line for line in _lines(out) if not line.startswith("exists")]
    assert sorted(line.split()[1] for line in changed) == ["batch-job-definition", "ecs-task-definition"]
    secrets = boto3.client("secretsmanager")
    assert secrets.get_secret_value(SecretId="upstage-assets/upstage-api-key")["SecretString"] == FAKE_API_KEY
    # restore, so other tests see the abc123 image again as the latest revision
    assert run_bootstrap(["--image-tag", "abc123"])[0] == 0


def test_secret_values_never_printed(bootstrapped: BootstrapRuns) -> None:
    for output in (bootstrapped.dry_run, bootstrapped.first, bootstrapped.second):
        assert FAKE_API_KEY not in output
        assert "pw@db" not in output


def test_without_region_fails_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert run_bootstrap([])[0] == 2


def test_cli_dry_run_on_a_bootstrapped_account_plans_nothing(bootstrapped: BootstrapRuns, aws_env: MotoEndpoint,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from upstage_assets.cli import main as cli_main

    assert cli_main(["aws", "bootstrap", "--dry-run", "--image-tag", "abc123"]) == 0
    out = capsys.readouterr().out
    assert "plan (dry run, nothing changed):" in out
    assert _lines(out) and all(line.startswith("exists") for line in _lines(out))


def test_inbox_uploads_notify_the_queue_which_dead_letters_after_five_receives(bootstrapped: BootstrapRuns,
                                                                    aws_env: MotoEndpoint) -> None:
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    url = sqs.get_queue_url(QueueName="upstage-assets-inbox-events")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":upstage-assets-inbox-events-dlq")
    assert int(redrive["maxReceiveCount"]) == 5
    statement = json.loads(attributes["Policy"])["Statement"][0]
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{BUCKET}"
    (config,) = s3.get_bucket_notification_configuration(Bucket=BUCKET)["QueueConfigurations"]
    assert config["QueueArn"] == attributes["QueueArn"]

    s3.put_object(Bucket=BUCKET, Key="inbox/a.pdf", Body=b"%PDF-1.4 x")
    s3.put_object(Bucket=BUCKET, Key="tables/not-an-inbox-file.parquet", Body=b"x")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    keys = [unquote_plus(r["s3"]["object"]["key"]) for m in messages for r in json.loads(m["Body"]).get("Records", [])]
    assert keys == ["inbox/a.pdf"]
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    for key in ("inbox/a.pdf", "tables/not-an-inbox-file.parquet"):
        s3.delete_object(Bucket=BUCKET, Key=key)
