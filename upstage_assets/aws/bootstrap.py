"""`upstage-assets aws bootstrap`: create (or confirm) every AWS resource the platform needs.

Idempotent by construction: each step looks before it leaps and reports `exists` when the
resource is already as wanted, so a second run changes nothing. `--dry-run` only reads.
Endpoints follow boto3's own settings (AWS_ENDPOINT_URL, AWS_PROFILE, ...); secret values are
taken from the environment and never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
from botocore.exceptions import ClientError

from upstage_assets.aws import plan
from upstage_assets.aws.event_queue import ensure_event_queue
from upstage_assets.aws.plan import BootstrapSettings


@dataclass(frozen=True)
class Action:
    """One line of the plan: what kind of resource, its name, and what was (or would be) done."""

    kind: str
    name: str
    status: str  # "create" | "update" | "exists" | "unknown"

    def __str__(self) -> str:
        return f"{self.status:<7} {self.kind:<22} {self.name}"


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _normalized_retry(strategy: Any) -> Any:
    """Batch treats retry actions case-insensitively and may echo them back in either case."""
    if not strategy:
        return strategy
    rules = [{**rule, "action": str(rule.get("action", "")).upper()} for rule in strategy.get("evaluateOnExit", [])]
    return {**strategy, "evaluateOnExit": rules}


class Bootstrapper:
    """Runs the steps in dependency order against one account/region."""

    def __init__(self, settings: BootstrapSettings, session: boto3.session.Session, dry_run: bool = False):
        self.s = settings
        self.dry_run = dry_run
        self.s3 = session.client("s3")
        self.ecr = session.client("ecr")
        self.secrets = session.client("secretsmanager")
        self.iam = session.client("iam")
        self.ecs = session.client("ecs")
        self.batch = session.client("batch")
        self.logs = session.client("logs")
        self.ec2 = session.client("ec2")
        self.sqs = session.client("sqs")
        self.actions: list[Action] = []

    def _step(self, kind: str, name: str, exists: Callable[[], bool], create: Callable[[], Any]) -> None:
        if exists():
            self.actions.append(Action(kind, name, "exists"))
            return
        if not self.dry_run:
            create()
        self.actions.append(Action(kind, name, "create"))

    def run(self) -> list[Action]:
        self.ensure_log_group()
        self.ensure_bucket()
        ensure_event_queue(self)
        self.ensure_ecr()
        secret_arns = self.ensure_secrets()
        self.ensure_roles()
        self.ensure_cluster()
        self.ensure_task_definition(secret_arns)
        self.ensure_batch()
        return self.actions

    # -- storage and logs -------------------------------------------------------------------
    def ensure_log_group(self) -> None:
        name = self.s.log_group

        def exists() -> bool:
            groups = self.logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
            return any(g["logGroupName"] == name for g in groups)

        def create() -> None:
            self.logs.create_log_group(logGroupName=name, tags=self.s.tags)
            self.logs.put_retention_policy(logGroupName=name, retentionInDays=self.s.log_retention_days)

        self._step("cloudwatch-log-group", name, exists, create)

    def ensure_bucket(self) -> None:
        bucket = self.s.bucket_name

        def exists() -> bool:
            try:
                self.s3.head_bucket(Bucket=bucket)
                return True
            except ClientError as err:
                if _error_code(err) in {"404", "NoSuchBucket", "NotFound"}:
                    return False
                raise

        def create() -> None:
            kwargs: dict[str, Any] = {"Bucket": bucket}
            if self.s.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.s.region}
            self.s3.create_bucket(**kwargs)
            self.s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
            self.s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
            self.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": self.s.tag_list()})

        self._step("s3-bucket", bucket, exists, create)
        for prefix in plan.BUCKET_PREFIXES:
            self._step("s3-prefix", f"s3://{bucket}/{prefix}",
                       partial(self._prefix_exists, bucket, prefix),
                       partial(self.s3.put_object, Bucket=bucket, Key=prefix, Body=b""))

    def _prefix_exists(self, bucket: str, prefix: str) -> bool:
        # In a dry run the bucket may not exist yet; its prefixes then obviously do not either.
        if self.dry_run and any(a.kind == "s3-bucket" and a.status == "create" for a in self.actions):
            return False
        return self._key_exists(bucket, prefix)

    def _key_exists(self, bucket: str, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as err:
            if _error_code(err) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise

    def ensure_ecr(self) -> None:
        name = self.s.ecr_repository

        def exists() -> bool:
            try:
                self.ecr.describe_repositories(repositoryNames=[name])
                return True
            except ClientError as err:
                if _error_code(err) == "RepositoryNotFoundException":
                    return False
                raise

        self._step("ecr-repository", name, exists, lambda: self.ecr.create_repository(
            repositoryName=name, imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True}, tags=self.s.tag_list()))

    def ensure_secrets(self) -> dict[str, str]:
        """Secrets are created from the environment if set there; an existing value is never replaced."""
        wanted = {"UPSTAGE_API_KEY": self.s.api_key_secret, "DAGSTER_POSTGRES_URL": self.s.postgres_url_secret}
        arns: dict[str, str] = {}
        for env_name, secret_name in wanted.items():
            arns[env_name] = self._secret_arn(secret_name) or (
                f"arn:aws:secretsmanager:{self.s.region}:{self.s.account_id}:secret:{secret_name}")

            def create(env_name: str = env_name, secret_name: str = secret_name) -> None:
                kwargs: dict[str, Any] = {"Name": secret_name, "Tags": self.s.tag_list(),
                                          "Description": f"{env_name} for {self.s.prefix}"}
                value = os.environ.get(env_name)
                if value:
                    kwargs["SecretString"] = value
                arns[env_name] = self.secrets.create_secret(**kwargs)["ARN"]

            self._step("secretsmanager-secret", secret_name,
                       partial(self._secret_exists, secret_name), create)
        return arns

    def _secret_exists(self, name: str) -> bool:
        return self._secret_arn(name) is not None

    def _secret_arn(self, name: str) -> str | None:
        try:
            return str(self.secrets.describe_secret(SecretId=name)["ARN"])
        except ClientError as err:
            if _error_code(err) == "ResourceNotFoundException":
                return None
            raise

    # -- identity -----------------------------------------------------------------------------
    def ensure_roles(self) -> None:
        self._ensure_role(self.s.execution_role, plan.ECS_TRUST, [plan.EXECUTION_MANAGED_POLICY],
                          plan.execution_role_policy(self.s))
        self._ensure_role(self.s.task_role, plan.ECS_TRUST, [], plan.task_role_policy(self.s))
        self._ensure_role(self.s.batch_instance_role, plan.EC2_TRUST, [plan.BATCH_INSTANCE_MANAGED_POLICY], None)
        name = self.s.batch_instance_role

        def profile_exists() -> bool:
            try:
                self.iam.get_instance_profile(InstanceProfileName=name)
                return True
            except ClientError as err:
                if _error_code(err) == "NoSuchEntity":
                    return False
                raise

        def create_profile() -> None:
            self.iam.create_instance_profile(InstanceProfileName=name)
            self.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)

        self._step("iam-instance-profile", name, profile_exists, create_profile)
        self._step("iam-service-linked-role", "AWSServiceRoleForBatch",
                   lambda: self._batch_service_role_arn() is not None,
                   lambda: self.iam.create_service_linked_role(AWSServiceName="batch.amazonaws.com"))

    def _ensure_role(self, name: str, trust: dict[str, Any], managed: list[str], inline: str | None) -> None:
        def exists() -> bool:
            try:
                self.iam.get_role(RoleName=name)
                return True
            except ClientError as err:
                if _error_code(err) == "NoSuchEntity":
                    return False
                raise

        self._step("iam-role", name, exists, lambda: self.iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=self.s.tag_list()))
        for arn in managed:
            self._step("iam-attached-policy", f"{name} <- {arn.rsplit('/', 1)[-1]}",
                       partial(self._is_attached, name, arn),
                       partial(self.iam.attach_role_policy, RoleName=name, PolicyArn=arn))
        if inline is not None:
            self._step("iam-inline-policy", f"{name}/{self.s.prefix}",
                       lambda: self._inline_policy(name) == json.loads(inline),
                       lambda: self.iam.put_role_policy(RoleName=name, PolicyName=self.s.prefix,
                                                        PolicyDocument=inline))

    def _is_attached(self, role: str, policy_arn: str) -> bool:
        return policy_arn in self._attached(role)

    def _attached(self, role: str) -> set[str]:
        if self.dry_run and not self._role_exists(role):
            return set()
        return {p["PolicyArn"] for p in self.iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}

    def _role_exists(self, role: str) -> bool:
        try:
            self.iam.get_role(RoleName=role)
            return True
        except ClientError:
            return False

    def _batch_service_role_arn(self) -> str | None:
        """The service-linked role Batch uses; found by its path, which AWS fixes (the name's case varies)."""
        roles = self.iam.list_roles(PathPrefix="/aws-service-role/batch.amazonaws.com/")["Roles"]
        return str(roles[0]["Arn"]) if roles else None

    def _inline_policy(self, role: str) -> Any:
        try:
            doc = self.iam.get_role_policy(RoleName=role, PolicyName=self.s.prefix)["PolicyDocument"]
        except ClientError as err:
            if _error_code(err) == "NoSuchEntity":
                return None
            raise
        return json.loads(doc) if isinstance(doc, str) else doc

    # -- compute --------------------------------------------------------------------------------
    def ensure_cluster(self) -> None:
        name = self.s.cluster

        def exists() -> bool:
            clusters = self.ecs.describe_clusters(clusters=[name])["clusters"]
            return any(c["clusterName"] == name and c.get("status") == "ACTIVE" for c in clusters)

        self._step("ecs-cluster", name, exists, lambda: self.ecs.create_cluster(
            clusterName=name, capacityProviders=["FARGATE", "FARGATE_SPOT"],
            defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 4},
                                             {"capacityProvider": "FARGATE", "weight": 1}],
            tags=self.s.tag_list("key", "value")))

    def ensure_task_definition(self, secret_arns: dict[str, str]) -> None:
        family = self.s.run_task_family
        container = plan.run_container_definition(self.s, secret_arns)
        wanted = {"cpu": "1024", "memory": "4096", "networkMode": "awsvpc",
                  "requiresCompatibilities": ["FARGATE"],
                  "taskRoleArn": self.s.role_arn(self.s.task_role),
                  "executionRoleArn": self.s.role_arn(self.s.execution_role)}

        def matches() -> bool:
            try:
                current = self.ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
            except ClientError:
                return False
            if any(current.get(k) != v for k, v in wanted.items()):
                return False
            have = {c["name"]: c for c in current.get("containerDefinitions", [])}.get("run", {})
            return all(have.get(k) == v for k, v in container.items())

        self._step("ecs-task-definition", family, matches, lambda: self.ecs.register_task_definition(
            family=family, containerDefinitions=[container], tags=self.s.tag_list("key", "value"), **wanted))

    def ensure_batch(self) -> None:
        s = self.s
        env_name = s.compute_environment

        def env_exists() -> bool:
            envs = self.batch.describe_compute_environments(computeEnvironments=[env_name])["computeEnvironments"]
            return any(e["computeEnvironmentName"] == env_name for e in envs)

        def create_env() -> None:
            subnets, groups = self._network()
            self.batch.create_compute_environment(
                computeEnvironmentName=env_name, type="MANAGED", state="ENABLED", tags=s.tags,
                serviceRole=self._batch_service_role_arn(),
                computeResources={
                    "type": "SPOT", "allocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
                    "minvCpus": 0, "maxvCpus": s.batch_max_vcpus, "desiredvCpus": 0,
                    "instanceTypes": list(s.gpu_instance_types), "subnets": subnets,
                    "securityGroupIds": groups,
                    "instanceRole": f"arn:aws:iam::{s.account_id}:instance-profile/{s.batch_instance_role}",
                    "ec2Configuration": [{"imageType": "ECS_AL2_NVIDIA"}], "tags": s.tags})

        self._step("batch-compute-env", env_name, env_exists, create_env)

        def queue_exists() -> bool:
            queues = self.batch.describe_job_queues(jobQueues=[s.job_queue])["jobQueues"]
            return any(q["jobQueueName"] == s.job_queue for q in queues)

        self._step("batch-job-queue", s.job_queue, queue_exists, lambda: self.batch.create_job_queue(
            jobQueueName=s.job_queue, state="ENABLED", priority=1, tags=s.tags,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env_name}]))

        props = plan.gpu_job_container_properties(s)

        def job_definition_matches() -> bool:
            defs = self.batch.describe_job_definitions(jobDefinitionName=s.job_definition,
                                                       status="ACTIVE")["jobDefinitions"]
            if not defs:
                return False
            latest = max(defs, key=lambda d: d["revision"])
            have = latest.get("containerProperties", {})
            return all(have.get(k) == v for k, v in props.items()) and (
                _normalized_retry(latest.get("retryStrategy")) == _normalized_retry(plan.spot_retry_strategy()))

        self._step("batch-job-definition", s.job_definition, job_definition_matches,
                   lambda: self.batch.register_job_definition(
                       jobDefinitionName=s.job_definition, type="container", containerProperties=props,
                       retryStrategy=plan.spot_retry_strategy(), timeout={"attemptDurationSeconds": 6 * 3600},
                       propagateTags=True, tags=s.tags))

    def _network(self) -> tuple[list[str], list[str]]:
        """Explicit subnets/security groups, else the default VPC's (fine for a first deployment)."""
        subnets, groups = list(self.s.subnet_ids), list(self.s.security_group_ids)
        if subnets and groups:
            return subnets, groups
        vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise SystemExit("no default VPC: pass --subnet-ids and --security-group-ids")
        vpc_id = vpcs[0]["VpcId"]
        vpc_filter = [{"Name": "vpc-id", "Values": [vpc_id]}]
        subnets = subnets or [x["SubnetId"] for x in self.ec2.describe_subnets(Filters=vpc_filter)["Subnets"]]
        groups = groups or [g["GroupId"] for g in self.ec2.describe_security_groups(
            Filters=[*vpc_filter, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]]
        return subnets, groups


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="upstage-assets aws bootstrap", description=__doc__.splitlines()[0])
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("--prefix", default="upstage-assets", help="name prefix for every resource")
    parser.add_argument("--bucket", help="bucket name (default: <prefix>-<account>-<region>)")
    parser.add_argument("--image-tag", default="latest", help="image tag the task/job definitions run")
    parser.add_argument("--subnet-ids", default="", help="comma-separated; default: the default VPC's")
    parser.add_argument("--security-group-ids", default="", help="comma-separated; default: the default VPC's")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Entry point for `upstage-assets aws bootstrap ARGS`; returns the process exit code."""
    args = parse_args(argv)
    if not args.region:
        print("error: set --region or AWS_REGION", file=sys.stderr)
        return 2
    session = boto3.session.Session(region_name=args.region)
    try:
        account_id = session.client("sts").get_caller_identity()["Account"]
    except Exception as err:  # no credentials, no network: say so without a traceback
        print(f"error: cannot reach AWS to identify the account ({type(err).__name__})", file=sys.stderr)
        return 1
    settings = BootstrapSettings(
        account_id=account_id, region=args.region, prefix=args.prefix, bucket=args.bucket,
        image_tag=args.image_tag,
        subnet_ids=tuple(x for x in args.subnet_ids.split(",") if x),
        security_group_ids=tuple(x for x in args.security_group_ids.split(",") if x))
    actions = Bootstrapper(settings, session, dry_run=args.dry_run).run()
    header = "plan (dry run, nothing changed):" if args.dry_run else "bootstrap:"
    print(header)
    for action in actions:
        print(f"  {action}")
    changed = sum(a.status != "exists" for a in actions)
    print(f"{changed} to change, {len(actions) - changed} already in place" if args.dry_run
          else f"{changed} changed, {len(actions) - changed} already in place")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
