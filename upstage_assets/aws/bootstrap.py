"""`upstage-assets aws bootstrap` / `aws teardown`: the deployment as one CloudFormation stack.

Bootstrap creates what cannot live in the stack (the secrets, from the environment, their
values never printed nor put in a template; the account's Batch service-linked role), looks up
the network, then creates or updates the stack through a change set and prints it: a changed
setting shows as Modify, an unchanged deployment as "no changes". `--dry-run` prints the change
set and executes nothing. Teardown deletes the stack; the bucket and the image repository are
retained (they hold data), secrets only go with `--delete-secrets`. Endpoints follow boto3's own
settings (AWS_ENDPOINT_URL, AWS_PROFILE, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from upstage_assets.aws.event_queue import ensure_event_queue, remove_event_queue
from upstage_assets.aws.plan import BootstrapSettings
from upstage_assets.aws.stack import StackError, StackResult, deploy, teardown
from upstage_assets.aws.stack_template import build_template

SECRET_RECOVERY_DAYS = 7


@dataclass(frozen=True)
class Action:
    """One line of the plan outside the stack: what kind of resource, its name, what was (or would be) done."""

    kind: str
    name: str
    status: str  # "create" | "exists"

    def __str__(self) -> str:
        return f"{self.status:<7} {self.kind:<34} {self.name}"


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class Bootstrapper:
    """Prepares the stack's parameters (secrets, service role, network), then deploys the stack."""

    def __init__(self, settings: BootstrapSettings, session: boto3.session.Session, dry_run: bool = False):
        self.s = settings
        self.dry_run = dry_run
        self.secrets = session.client("secretsmanager")
        self.iam = session.client("iam")
        self.ec2 = session.client("ec2")
        self.cloudformation = session.client("cloudformation")
        self.s3 = session.client("s3")
        self.sqs = session.client("sqs")
        self.actions: list[Action] = []

    def _step(self, kind: str, name: str, exists: Any, create: Any) -> None:
        """One idempotent step outside the stack: look, then create (or say what would be)."""
        if exists():
            self.actions.append(Action(kind, name, "exists"))
            return
        if not self.dry_run:
            create()
        self.actions.append(Action(kind, name, "create"))

    def run(self) -> StackResult:
        secret_arns = self.ensure_secrets()
        service_role = self.ensure_batch_service_role()
        subnets, groups = self._network()
        parameters = {"Subnets": ",".join(subnets), "SecurityGroups": ",".join(groups),
                      "ApiKeySecretArn": secret_arns["UPSTAGE_API_KEY"],
                      "PostgresUrlSecretArn": secret_arns["DAGSTER_POSTGRES_URL"],
                      "BatchServiceRoleArn": service_role}
        result = deploy(self.cloudformation, self.s.prefix, build_template(self.s), parameters,
                        self.s.tag_list(), plan_only=self.dry_run)
        # The S3 -> SQS intake edits the bucket's notification rules beside anyone else's, which a
        # stack cannot do (its NotificationConfiguration replaces them all): it follows the stack.
        ensure_event_queue(self)
        return result

    def ensure_secrets(self) -> dict[str, str]:
        """Secrets are created from the environment if set there; an existing value is never replaced."""
        wanted = {"UPSTAGE_API_KEY": self.s.api_key_secret, "DAGSTER_POSTGRES_URL": self.s.postgres_url_secret}
        arns: dict[str, str] = {}
        for env_name, secret_name in wanted.items():
            arn = secret_arn(self.secrets, secret_name)
            if arn is not None:
                self.actions.append(Action("secretsmanager-secret", secret_name, "exists"))
                arns[env_name] = arn
                continue
            arns[env_name] = f"arn:aws:secretsmanager:{self.s.region}:{self.s.account_id}:secret:{secret_name}"
            if not self.dry_run:
                kwargs: dict[str, Any] = {"Name": secret_name, "Tags": self.s.tag_list(),
                                          "Description": f"{env_name} for {self.s.prefix}"}
                value = os.environ.get(env_name)
                if value:
                    kwargs["SecretString"] = value
                arns[env_name] = str(self.secrets.create_secret(**kwargs)["ARN"])
            self.actions.append(Action("secretsmanager-secret", secret_name, "create"))
        return arns

    def ensure_batch_service_role(self) -> str:
        """The account-wide role Batch acts through; created once per account, never by (or with) a stack."""
        arn = self._batch_service_role_arn()
        if arn is not None:
            self.actions.append(Action("iam-service-linked-role", "AWSServiceRoleForBatch", "exists"))
            return arn
        if not self.dry_run:
            self.iam.create_service_linked_role(AWSServiceName="batch.amazonaws.com")
        self.actions.append(Action("iam-service-linked-role", "AWSServiceRoleForBatch", "create"))
        return self._batch_service_role_arn() or (
            f"arn:aws:iam::{self.s.account_id}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch")

    def _batch_service_role_arn(self) -> str | None:
        """Found by its path, which AWS fixes (the name's case varies)."""
        roles = self.iam.list_roles(PathPrefix="/aws-service-role/batch.amazonaws.com/")["Roles"]
        return str(roles[0]["Arn"]) if roles else None

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



def secret_arn(secrets: Any, name: str) -> str | None:
    try:
        return str(secrets.describe_secret(SecretId=name)["ARN"])
    except ClientError as err:
        if _error_code(err) == "ResourceNotFoundException":
            return None
        raise


def parse_args(argv: list[str], command: str = "bootstrap") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"upstage-assets aws {command}", description=__doc__.splitlines()[0])
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("--prefix", default="upstage-assets", help="stack name and name prefix of every resource")
    if command == "teardown":
        parser.add_argument("--delete-secrets", action="store_true",
                            help=f"also schedule the secrets' deletion ({SECRET_RECOVERY_DAYS}-day recovery window)")
        return parser.parse_args(argv)
    parser.add_argument("--bucket", help="bucket name (default: <prefix>-<account>-<region>)")
    parser.add_argument("--image-tag", default="latest", help="image tag the task/job definitions run")
    parser.add_argument("--subnet-ids", default="", help="comma-separated; default: the default VPC's")
    parser.add_argument("--security-group-ids", default="", help="comma-separated; default: the default VPC's")
    parser.add_argument("--dry-run", action="store_true", help="print the change set; change nothing")
    return parser.parse_args(argv)


def _session(region: str | None) -> tuple[boto3.session.Session, str] | int:
    if not region:
        print("error: set --region or AWS_REGION", file=sys.stderr)
        return 2
    session = boto3.session.Session(region_name=region)
    try:
        account_id = str(session.client("sts").get_caller_identity()["Account"])
    except Exception as err:  # no credentials, no network: say so without a traceback
        print(f"error: cannot reach AWS to identify the account ({type(err).__name__})", file=sys.stderr)
        return 1
    return session, account_id


def print_result(actions: list[Action], result: StackResult, dry_run: bool) -> None:
    print("plan (dry run, nothing changed):" if dry_run else "bootstrap:")
    for action in actions:
        print(f"  {action}")
    for change in result.changes:
        print(f"  {change}")
    if result.kind == "NONE":
        print(f"stack {result.stack_name}: no changes")
    else:
        verb = "would" if dry_run else "did"
        print(f"stack {result.stack_name}: {result.kind.lower()} ({verb} change {len(result.changes)} resources)")


def main(argv: list[str]) -> int:
    """Entry point for `upstage-assets aws bootstrap ARGS`; returns the process exit code."""
    args = parse_args(argv)
    found = _session(args.region)
    if isinstance(found, int):
        return found
    session, account_id = found
    settings = BootstrapSettings(
        account_id=account_id, region=args.region, prefix=args.prefix, bucket=args.bucket,
        image_tag=args.image_tag,
        subnet_ids=tuple(x for x in args.subnet_ids.split(",") if x),
        security_group_ids=tuple(x for x in args.security_group_ids.split(",") if x))
    bootstrapper = Bootstrapper(settings, session, dry_run=args.dry_run)
    try:
        result = bootstrapper.run()
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print_result(bootstrapper.actions, result, args.dry_run)
    return 0


def main_teardown(argv: list[str]) -> int:
    """Entry point for `upstage-assets aws teardown ARGS`."""
    args = parse_args(argv, "teardown")
    found = _session(args.region)
    if isinstance(found, int):
        return found
    session, account_id = found
    settings = BootstrapSettings(account_id=account_id, region=args.region, prefix=args.prefix)
    try:
        deleted = teardown(session.client("cloudformation"), settings.prefix)
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"stack {settings.prefix}: {'deleted' if deleted else 'not found'}")
    print(f"  kept    s3-bucket (holds your data)          {settings.bucket_name}")
    print(f"  kept    ecr-repository (holds your images)   {settings.ecr_repository}")
    for line in remove_event_queue(session.client("s3"), session.client("sqs"), settings):
        print(f"  {line}")
    secrets = session.client("secretsmanager")
    for name in (settings.api_key_secret, settings.postgres_url_secret):
        if secret_arn(secrets, name) is None:
            continue
        if args.delete_secrets:
            secrets.delete_secret(SecretId=name, RecoveryWindowInDays=SECRET_RECOVERY_DAYS)
            print(f"  deleted secretsmanager-secret (recoverable {SECRET_RECOVERY_DAYS} days) {name}")
        else:
            print(f"  kept    secretsmanager-secret (--delete-secrets removes it) {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
