"""`upstage-assets aws bootstrap` / `aws teardown` against moto's CloudFormation over HTTP.

The stack is created once, an unchanged second run reports no changes, a changed setting shows
up as Modify of exactly the resources it touches, and teardown removes the stack but keeps the
bucket (data) and, unless asked, the secrets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import pytest

from upstage_assets.aws.stack_template import portable_template, render
from upstage_assets_tests.deploy.conftest import FAKE_API_KEY, BootstrapRuns, MotoEndpoint, run_bootstrap

pytestmark = pytest.mark.slow  # one moto account bootstrapped three times (~10 s on a busy box)

BUCKET = "upstage-assets-123456789012-us-east-1"
SHIPPED = Path(__file__).resolve().parents[2] / "upstage_assets" / "deploy" / "aws-stack.json"
STACK_RESOURCES = {
    "LogGroup", "DocumentBucket", "ImageRepository", "ExecutionRole", "TaskRole", "BatchInstanceRole",
    "BatchInstanceProfile", "Cluster", "RunTaskDefinition", "ComputeEnvironment", "JobQueue", "JobDefinition"}


def _lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.startswith("  ")]


def _stack_changes(output: str) -> dict[str, str]:
    """logical id -> action, for the change-set lines of an output."""
    return {line.split()[2]: line.split()[0] for line in _lines(output) if line.split()[1].startswith("AWS::")}


def test_dry_run_plans_everything_and_changes_nothing(bootstrapped: BootstrapRuns) -> None:
    planned = _stack_changes(bootstrapped.dry_run)
    assert planned == dict.fromkeys(STACK_RESOURCES, "Add")
    assert "plan (dry run, nothing changed):" in bootstrapped.dry_run
    # The dry run came first, yet the first real run still created the stack with everything in it.
    assert _stack_changes(bootstrapped.first) == planned
    assert "stack upstage-assets: create (did change 12 resources)" in bootstrapped.first
    assert [line.split()[0] for line in _lines(bootstrapped.first) if "secretsmanager" in line] == ["create"] * 2


def test_second_run_changes_nothing(bootstrapped: BootstrapRuns) -> None:
    assert "stack upstage-assets: no changes" in bootstrapped.second
    assert _stack_changes(bootstrapped.second) == {}
    assert all(line.startswith("exists") for line in _lines(bootstrapped.second)), bootstrapped.second


def test_resources_exist_as_planned(bootstrapped: BootstrapRuns, aws_env: MotoEndpoint) -> None:
    s3 = boto3.client("s3")
    s3.head_bucket(Bucket=BUCKET)
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    assert boto3.client("ecr").describe_repositories(repositoryNames=["upstage-assets"])["repositories"]
    secrets = boto3.client("secretsmanager")
    assert secrets.get_secret_value(SecretId="upstage-assets/upstage-api-key")["SecretString"] == FAKE_API_KEY

    iam = boto3.client("iam")
    trust = iam.get_role(RoleName="upstage-assets-task")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"]["Service"] == "ecs-tasks.amazonaws.com"
    inline = iam.get_role_policy(RoleName="upstage-assets-task", PolicyName="upstage-assets")["PolicyDocument"]
    assert "s3:PutObject" in json.dumps(inline)
    # moto's CloudFormation does not attach ManagedPolicyArns: read them from the deployed template.
    deployed = boto3.client("cloudformation").get_template(StackName="upstage-assets")["TemplateBody"]
    deployed = json.loads(deployed) if isinstance(deployed, str) else deployed
    assert deployed["Resources"]["ExecutionRole"]["Properties"]["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]

    ecs = boto3.client("ecs")
    (cluster,) = ecs.describe_clusters(clusters=["upstage-assets"])["clusters"]
    assert cluster["status"] == "ACTIVE"
    task_def = ecs.describe_task_definition(taskDefinition="upstage-assets-run")["taskDefinition"]
    # moto registers only family, containers, volumes and memory from a template: the rest from the template.
    run_properties = deployed["Resources"]["RunTaskDefinition"]["Properties"]
    assert run_properties["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}
    assert run_properties["NetworkMode"] == "awsvpc"
    (container,) = task_def["containerDefinitions"]
    assert container["name"] == "run"
    assert container["image"].endswith("/upstage-assets:abc123")
    assert {s["name"] for s in container["secrets"]} == {"UPSTAGE_API_KEY", "DAGSTER_POSTGRES_URL"}
    assert FAKE_API_KEY not in json.dumps(task_def, default=str)

    batch = boto3.client("batch")
    (env,) = batch.describe_compute_environments(computeEnvironments=["upstage-assets-gpu-spot"])[
        "computeEnvironments"]
    assert env["computeResources"]["type"] == "SPOT"
    assert env["computeResources"]["minvCpus"] == 0
    (queue,) = batch.describe_job_queues(jobQueues=["upstage-assets-gpu-spot"])["jobQueues"]
    assert queue["computeEnvironmentOrder"][0]["computeEnvironment"].endswith("upstage-assets-gpu-spot")
    job_defs = batch.describe_job_definitions(jobDefinitionName="upstage-assets-gpu-step",
                                              status="ACTIVE")["jobDefinitions"]
    job_def = max(job_defs, key=lambda d: d["revision"])
    assert {"type": "GPU", "value": "1"} in job_def["containerProperties"]["resourceRequirements"]
    first_rule = job_def["retryStrategy"]["evaluateOnExit"][0]
    assert (first_rule["onStatusReason"], first_rule["action"].upper()) == ("Host EC2*", "RETRY")

    logs = boto3.client("logs")
    (group,) = logs.describe_log_groups(logGroupNamePrefix="/upstage-assets")["logGroups"]
    assert group["retentionInDays"] == 30


def _deployed_image(stack: str) -> str:
    body = boto3.client("cloudformation").get_template(StackName=stack)["TemplateBody"]
    body = json.loads(body) if isinstance(body, str) else body
    (container,) = body["Resources"]["RunTaskDefinition"]["Properties"]["ContainerDefinitions"]
    return str(container["Image"])


def test_changed_image_modifies_the_two_definitions_only(aws_env: MotoEndpoint,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed setting is a Modify of exactly what it touches, never "exists".

    Its own stack: moto's CloudFormation re-registers an updated task definition with the
    template's PascalCase keys (a moto defect), which would spoil the shared deployment the ECS
    launcher test runs. The deployed image is therefore read from the stack's template.
    """
    prefix = "ua-image"
    monkeypatch.setenv("UPSTAGE_API_KEY", FAKE_API_KEY)
    assert run_bootstrap(["--prefix", prefix, "--image-tag", "abc123"])[0] == 0
    monkeypatch.setenv("UPSTAGE_API_KEY", "a-different-key-that-must-not-replace-the-stored-one")
    code, planned = run_bootstrap(["--prefix", prefix, "--dry-run", "--image-tag", "def456"])
    assert code == 0, planned
    assert _stack_changes(planned) == {"JobDefinition": "Modify", "RunTaskDefinition": "Modify"}
    assert _deployed_image(prefix).endswith(":abc123"), "a dry run executes nothing"

    code, out = run_bootstrap(["--prefix", prefix, "--image-tag", "def456"])
    assert code == 0, out
    assert _stack_changes(out) == {"JobDefinition": "Modify", "RunTaskDefinition": "Modify"}
    assert f"stack {prefix}: update (did change 2 resources)" in out
    assert _deployed_image(prefix).endswith(":def456")
    secrets = boto3.client("secretsmanager")
    assert secrets.get_secret_value(SecretId=f"{prefix}/upstage-api-key")["SecretString"] == FAKE_API_KEY
    assert "no changes" in run_bootstrap(["--prefix", prefix, "--image-tag", "def456"])[1]


def test_teardown_deletes_the_stack_and_keeps_the_data(aws_env: MotoEndpoint,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from upstage_assets.cli import main as cli_main

    monkeypatch.setenv("UPSTAGE_API_KEY", FAKE_API_KEY)
    prefix = "ua-teardown"  # its own stack, so the shared deployment other tests use stays up
    code, out = run_bootstrap(["--prefix", prefix])
    assert code == 0, out
    bucket = f"{prefix}-123456789012-us-east-1"
    boto3.client("s3").put_object(Bucket=bucket, Key="tables/invoice/part-0.parquet", Body=b"rows")
    iam = boto3.client("iam")
    iam.get_role(RoleName=f"{prefix}-task")

    assert cli_main(["aws", "teardown", "--prefix", prefix]) == 0
    out = capsys.readouterr().out
    assert f"stack {prefix}: deleted" in out
    cloudformation = boto3.client("cloudformation")
    assert prefix not in {s["StackName"] for s in cloudformation.describe_stacks()["Stacks"]
                          if s["StackStatus"] != "DELETE_COMPLETE"}
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=f"{prefix}-task")
    # (moto's CloudFormation has no delete for task definitions; real CloudFormation deregisters them.)
    # The bucket and what it holds are kept; so are the secrets, until asked.
    assert boto3.client("s3").get_object(Bucket=bucket, Key="tables/invoice/part-0.parquet")["Body"].read() == b"rows"
    secrets = boto3.client("secretsmanager")
    assert secrets.get_secret_value(SecretId=f"{prefix}/upstage-api-key")["SecretString"] == FAKE_API_KEY

    sqs = boto3.client("sqs")
    for queue in (f"{prefix}-inbox-events", f"{prefix}-inbox-events-dlq"):
        with pytest.raises(sqs.exceptions.QueueDoesNotExist):
            sqs.get_queue_url(QueueName=queue)
    assert "QueueConfigurations" not in boto3.client("s3").get_bucket_notification_configuration(Bucket=bucket)

    assert cli_main(["aws", "teardown", "--prefix", prefix, "--delete-secrets"]) == 0
    out = capsys.readouterr().out
    assert f"stack {prefix}: not found" in out
    assert f"deleted secretsmanager-secret (recoverable 7 days) {prefix}/upstage-api-key" in out
    assert secrets.describe_secret(SecretId=f"{prefix}/upstage-api-key").get("DeletedDate")
    assert FAKE_API_KEY not in out


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
    assert "stack upstage-assets: no changes" in out
    assert _lines(out) and all(line.startswith("exists") for line in _lines(out))


@pytest.mark.parametrize("shipped", [False, True], ids=["generated", "shipped-file"])
def test_template_passes_cfn_lint(tmp_path: Path, shipped: bool) -> None:
    """cfn-lint (offline: its resource specifications ship in the wheel) finds no error or warning."""
    path = SHIPPED if shipped else tmp_path / "stack.json"
    if not shipped:
        path.write_text(render(portable_template("lint-check")))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    assert cfn_lint.exists(), "cfn-lint is a dev dependency (pip install -e .[dev])"
    result = subprocess.run([str(cfn_lint), "--format", "parseable", str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shipped_template_is_the_generated_one() -> None:
    """The file users deploy with their own tooling cannot drift from what bootstrap deploys."""
    assert SHIPPED.read_text() == render(portable_template()), (
        "regenerate: python -m upstage_assets.aws.stack_template > upstage_assets/deploy/aws-stack.json")
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
