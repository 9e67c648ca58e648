"""The CloudFormation template of one deployment: every AWS resource the platform owns.

Built from the same ``BootstrapSettings`` and IAM documents as before (``plan.py``), so the
names a running deployment expects and the names the stack creates cannot drift apart. What
must not live in a stack is passed in as parameters: the network (a default VPC is looked up
at deploy time), the secrets' ARNs (secret values never pass through CloudFormation) and the
account-wide Batch service-linked role (shared with every other Batch user of the account).

The bucket and the image repository are retained when the stack is deleted: they hold the
user's documents, tables and images, and a teardown must never take data with it.
"""

from __future__ import annotations

import json
from typing import Any

from upstage_assets.aws import plan
from upstage_assets.aws.plan import BootstrapSettings

TEMPLATE_FORMAT_VERSION = "2010-09-09"
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]  # the roles have fixed names the task definitions refer to
RETAINED = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}

PARAMETERS: dict[str, dict[str, str]] = {
    "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>",
                "Description": "Subnets of the Batch compute environment"},
    "SecurityGroups": {"Type": "List<AWS::EC2::SecurityGroup::Id>",
                       "Description": "Security groups of the Batch compute environment"},
    "ApiKeySecretArn": {"Type": "String", "Description": "ARN of the secret holding UPSTAGE_API_KEY"},
    "PostgresUrlSecretArn": {"Type": "String",
                             "Description": "ARN of the secret holding DAGSTER_POSTGRES_URL"},
    "BatchServiceRoleArn": {"Type": "String", "Description": "The account's AWSServiceRoleForBatch"},
}

# Keys whose values are free-form maps (log driver options): their keys keep AWS's spelling.
_VERBATIM = {"Options"}


def cfn_case(value: Any) -> Any:
    """An ECS/Batch API document (camelCase keys) in CloudFormation's PascalCase."""
    if isinstance(value, list):
        return [cfn_case(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted: dict[str, Any] = {}
    for key, item in value.items():
        name = key[:1].upper() + key[1:] if key[:1].islower() else key
        converted[name] = item if name in _VERBATIM or key.startswith("Fn::") or key == "Ref" else cfn_case(item)
    return converted


def _tags(s: BootstrapSettings) -> list[dict[str, str]]:
    return s.tag_list()


def _role(s: BootstrapSettings, name: str, trust: dict[str, Any], managed: list[str],
          inline: str | None) -> dict[str, Any]:
    properties: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust, "Tags": _tags(s)}
    if managed:
        properties["ManagedPolicyArns"] = managed
    if inline is not None:
        properties["Policies"] = [{"PolicyName": s.prefix, "PolicyDocument": json.loads(inline)}]
    return {"Type": "AWS::IAM::Role", "Properties": properties}


def _storage(s: BootstrapSettings) -> dict[str, Any]:
    return {
        "LogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": s.log_group, "RetentionInDays": s.log_retention_days, "Tags": _tags(s)}},
        "DocumentBucket": {"Type": "AWS::S3::Bucket", **RETAINED, "Properties": {
            "BucketName": s.bucket_name,
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                               "BlockPublicPolicy": True, "RestrictPublicBuckets": True},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "Tags": _tags(s)}},
        "ImageRepository": {"Type": "AWS::ECR::Repository", **RETAINED, "Properties": {
            "RepositoryName": s.ecr_repository, "ImageTagMutability": "IMMUTABLE",
            "ImageScanningConfiguration": {"ScanOnPush": True}, "Tags": _tags(s)}},
    }


def _identity(s: BootstrapSettings) -> dict[str, Any]:
    return {
        "ExecutionRole": _role(s, s.execution_role, plan.ECS_TRUST, [plan.EXECUTION_MANAGED_POLICY],
                               plan.execution_role_policy(s)),
        "TaskRole": _role(s, s.task_role, plan.ECS_TRUST, [], plan.task_role_policy(s)),
        "BatchInstanceRole": _role(s, s.batch_instance_role, plan.EC2_TRUST,
                                   [plan.BATCH_INSTANCE_MANAGED_POLICY], None),
        "BatchInstanceProfile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {
            "InstanceProfileName": s.batch_instance_role, "Roles": [{"Ref": "BatchInstanceRole"}]}},
    }


def _ecs(s: BootstrapSettings) -> dict[str, Any]:
    secret_refs = {"UPSTAGE_API_KEY": {"Ref": "ApiKeySecretArn"},
                   "DAGSTER_POSTGRES_URL": {"Ref": "PostgresUrlSecretArn"}}
    container = plan.run_container_definition(s, secret_refs)
    return {
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {
            "ClusterName": s.cluster, "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "DefaultCapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 4},
                                                {"CapacityProvider": "FARGATE", "Weight": 1}],
            "Tags": _tags(s)}},
        "RunTaskDefinition": {"Type": "AWS::ECS::TaskDefinition", "DependsOn": ["LogGroup"], "Properties": {
            "Family": s.run_task_family, "Cpu": "1024", "Memory": "4096", "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
            "TaskRoleArn": {"Fn::GetAtt": ["TaskRole", "Arn"]},
            "ExecutionRoleArn": {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
            "ContainerDefinitions": [cfn_case(container)], "Tags": _tags(s)}},
    }


def _batch(s: BootstrapSettings) -> dict[str, Any]:
    tags = dict(s.tags)
    properties = cfn_case(plan.gpu_job_container_properties(s))
    properties["JobRoleArn"] = {"Fn::GetAtt": ["TaskRole", "Arn"]}
    properties["ExecutionRoleArn"] = {"Fn::GetAtt": ["ExecutionRole", "Arn"]}
    return {
        "ComputeEnvironment": {"Type": "AWS::Batch::ComputeEnvironment", "Properties": {
            "ComputeEnvironmentName": s.compute_environment, "Type": "MANAGED", "State": "ENABLED",
            "ServiceRole": {"Ref": "BatchServiceRoleArn"},
            "ComputeResources": {
                "Type": "SPOT", "AllocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
                "MinvCpus": 0, "MaxvCpus": s.batch_max_vcpus, "InstanceTypes": list(s.gpu_instance_types),
                "Subnets": {"Ref": "Subnets"}, "SecurityGroupIds": {"Ref": "SecurityGroups"},
                "InstanceRole": {"Fn::GetAtt": ["BatchInstanceProfile", "Arn"]},
                "Ec2Configuration": [{"ImageType": "ECS_AL2_NVIDIA"}], "Tags": tags},
            "Tags": tags}},
        "JobQueue": {"Type": "AWS::Batch::JobQueue", "Properties": {
            "JobQueueName": s.job_queue, "State": "ENABLED", "Priority": 1,
            "ComputeEnvironmentOrder": [{"Order": 1, "ComputeEnvironment": {"Ref": "ComputeEnvironment"}}],
            "Tags": tags}},
        "JobDefinition": {"Type": "AWS::Batch::JobDefinition", "DependsOn": ["LogGroup"], "Properties": {
            "JobDefinitionName": s.job_definition, "Type": "container", "ContainerProperties": properties,
            "RetryStrategy": cfn_case(plan.spot_retry_strategy()),
            "Timeout": {"AttemptDurationSeconds": 6 * 3600}, "PropagateTags": True, "Tags": tags}},
    }


def build_template(s: BootstrapSettings) -> dict[str, Any]:
    """The whole stack as a template document (serialise with ``render``)."""
    return {
        "AWSTemplateFormatVersion": TEMPLATE_FORMAT_VERSION,
        "Description": f"upstage-assets deployment '{s.prefix}': storage, roles, ECS runs, Batch GPU steps",
        "Parameters": PARAMETERS,
        "Resources": {**_storage(s), **_identity(s), **_ecs(s), **_batch(s)},
        "Outputs": {
            "BucketName": {"Value": {"Ref": "DocumentBucket"}},
            "ClusterName": {"Value": {"Ref": "Cluster"}},
            "RunTaskDefinitionArn": {"Value": {"Ref": "RunTaskDefinition"}},
            "JobQueueArn": {"Value": {"Ref": "JobQueue"}},
        },
    }


def _substituted(value: Any) -> Any:
    """Strings naming pseudo-parameters (``${AWS::AccountId}``) wrapped in ``Fn::Sub``."""
    if isinstance(value, str):
        return {"Fn::Sub": value} if "${AWS::" in value else value
    if isinstance(value, list):
        return [_substituted(item) for item in value]
    if isinstance(value, dict):
        return {key: _substituted(item) for key, item in value.items()}
    return value


def portable_template(prefix: str = "upstage-assets") -> dict[str, Any]:
    """The template for any account and region (what ships in ``deploy/aws-stack.json``)."""
    settings = BootstrapSettings(account_id="${AWS::AccountId}", region="${AWS::Region}", prefix=prefix)
    return _substituted(build_template(settings))


def render(template: dict[str, Any]) -> str:
    """JSON text, keys in a stable order so an unchanged deployment renders identically."""
    return json.dumps(template, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(portable_template()), end="")
