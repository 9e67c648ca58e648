"""Names and IAM documents for everything `upstage-assets aws bootstrap` owns.

Kept apart from the boto3 calls so the plan (what will exist, named how, allowed to do what)
can be read and reviewed on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ECS_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
EXECUTION_MANAGED_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
BATCH_INSTANCE_MANAGED_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"


@dataclass(frozen=True)
class BootstrapSettings:
    """Every name the bootstrap creates derives from `prefix`, the account and the region."""

    account_id: str
    region: str
    prefix: str = "upstage-assets"
    bucket: str | None = None
    image_tag: str = "latest"
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    gpu_instance_types: tuple[str, ...] = ("g4dn.xlarge", "g5.xlarge")
    batch_max_vcpus: int = 64
    log_retention_days: int = 30
    tags: dict[str, str] = field(default_factory=lambda: {"app": "upstage-assets"})

    @property
    def bucket_name(self) -> str:
        return self.bucket or f"{self.prefix}-{self.account_id}-{self.region}"

    @property
    def ecr_repository(self) -> str:
        return self.prefix

    @property
    def image_uri(self) -> str:
        return f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com/{self.ecr_repository}:{self.image_tag}"

    @property
    def api_key_secret(self) -> str:
        return f"{self.prefix}/upstage-api-key"

    @property
    def postgres_url_secret(self) -> str:
        return f"{self.prefix}/dagster-postgres-url"

    @property
    def task_role(self) -> str:
        return f"{self.prefix}-task"

    @property
    def execution_role(self) -> str:
        return f"{self.prefix}-execution"

    @property
    def batch_instance_role(self) -> str:
        return f"{self.prefix}-batch-instance"

    @property
    def cluster(self) -> str:
        return self.prefix

    @property
    def run_task_family(self) -> str:
        return f"{self.prefix}-run"

    @property
    def log_group(self) -> str:
        return f"/{self.prefix}"

    @property
    def compute_environment(self) -> str:
        return f"{self.prefix}-gpu-spot"

    @property
    def job_queue(self) -> str:
        return f"{self.prefix}-gpu-spot"

    @property
    def job_definition(self) -> str:
        return f"{self.prefix}-gpu-step"

    def role_arn(self, role_name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{role_name}"

    def secret_arn_pattern(self) -> str:
        return f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:{self.prefix}/*"

    def tag_list(self, key_name: str = "Key", value_name: str = "Value") -> list[dict[str, str]]:
        return [{key_name: k, value_name: v} for k, v in sorted(self.tags.items())]


def execution_role_policy(s: BootstrapSettings) -> str:
    """ECS pulls the image, writes logs and reads only this deployment's secrets at task start."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": s.secret_arn_pattern()},
    ]}, sort_keys=True)


def task_role_policy(s: BootstrapSettings) -> str:
    """What the platform's own code does: read/write its bucket, launch runs, submit Batch jobs."""
    bucket_arn = f"arn:aws:s3:::{s.bucket_name}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket_arn},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": f"{bucket_arn}/*"},
        {"Effect": "Allow", "Action": [
            "ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "ecs:DescribeTaskDefinition",
            "ecs:RegisterTaskDefinition", "ecs:ListAccountSettings", "ec2:DescribeNetworkInterfaces"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": ["iam:PassRole"],
         "Resource": [s.role_arn(s.task_role), s.role_arn(s.execution_role)]},
        {"Effect": "Allow", "Action": ["batch:SubmitJob", "batch:DescribeJobs", "batch:TerminateJob"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                                       "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
         "Resource": f"arn:aws:sqs:{s.region}:{s.account_id}:{s.prefix}-inbox-events"},
        {"Effect": "Allow", "Action": ["logs:GetLogEvents", "logs:DescribeLogStreams"],
         "Resource": f"arn:aws:logs:{s.region}:{s.account_id}:log-group:{s.log_group}:*"},
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
         "Resource": s.secret_arn_pattern()},
    ]}, sort_keys=True)


def run_container_definition(s: BootstrapSettings, secret_arns: dict[str, Any]) -> dict[str, Any]:
    """The single `run` container the EcsRunLauncher overrides (command, env) for every run.

    ``secret_arns`` holds ARNs, or CloudFormation references to the parameters carrying them.
    """
    return {
        "name": "run",
        "image": s.image_uri,
        "essential": True,
        # A Spot reclaim sends SIGTERM, then SIGKILL after stopTimeout (Fargate's most: 120 s): the run
        # worker drains in-flight documents within UPSTAGE_ASSETS_SHUTDOWN_GRACE_S (90 s) before that.
        "stopTimeout": 120,
        # Soft floor; the launcher's per-run overrides set the hard cpu/memory of task and container.
        "memoryReservation": 1024,
        "environment": [
            {"name": "DAGSTER_HOME", "value": "/opt/dagster/homes/aws"},
            {"name": "UPSTAGE_ASSETS_ENV", "value": "aws"},
            {"name": "UPSTAGE_ASSETS_BACKEND", "value": "upstage"},
            {"name": "UPSTAGE_ASSETS_BUCKET", "value": s.bucket_name},
            {"name": "UPSTAGE_ASSETS_DATA", "value": f"s3://{s.bucket_name}"},
            {"name": "UPSTAGE_ASSETS_ECS_CLUSTER", "value": s.cluster},
            {"name": "UPSTAGE_ASSETS_RUN_TASK_DEFINITION", "value": s.run_task_family},
            {"name": "UPSTAGE_ASSETS_BATCH_JOB_QUEUE", "value": s.job_queue},
            {"name": "UPSTAGE_ASSETS_BATCH_JOB_DEFINITION", "value": s.job_definition},
            {"name": "UPSTAGE_API_KEY_SECRET_ARN", "value": secret_arns["UPSTAGE_API_KEY"]},
            {"name": "DAGSTER_POSTGRES_URL_SECRET_ARN", "value": secret_arns["DAGSTER_POSTGRES_URL"]},
        ],
        "secrets": [{"name": name, "valueFrom": arn} for name, arn in sorted(secret_arns.items())],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": s.log_group, "awslogs-region": s.region, "awslogs-stream-prefix": "ecs"}},
    }


def spot_retry_strategy(attempts: int = 3) -> dict[str, Any]:
    """Retry only when Spot reclaimed the host; a failing container exits for good."""
    return {"attempts": attempts, "evaluateOnExit": [
        {"onStatusReason": "Host EC2*", "action": "RETRY"},
        {"onReason": "CannotInspectContainerError:*", "action": "RETRY"},
        {"onReason": "*", "action": "EXIT"},
    ]}


def gpu_job_container_properties(s: BootstrapSettings) -> dict[str, Any]:
    return {
        "image": s.image_uri,
        "command": ["python", "-m", "upstage_assets.aws.batch_worker"],
        "jobRoleArn": s.role_arn(s.task_role),
        "executionRoleArn": s.role_arn(s.execution_role),
        "resourceRequirements": [
            {"type": "GPU", "value": "1"}, {"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "15000"}],
        "environment": [{"name": "UPSTAGE_ASSETS_ENV", "value": "aws"},
                        {"name": "UPSTAGE_ASSETS_BUCKET", "value": s.bucket_name},
                        {"name": "UPSTAGE_ASSETS_DATA", "value": f"s3://{s.bucket_name}"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": s.log_group, "awslogs-region": s.region, "awslogs-stream-prefix": "batch"}},
    }
