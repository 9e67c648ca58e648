"""dagster-aws's own EcsRunLauncher, configured by our deploy/dagster-aws.yaml, launching against moto.

The instance is real (SQLite in a temp dir) and so is the launcher; the only change to the shipped
config is `use_current_ecs_task_config: false` plus an explicit network, because this test does not
run inside an ECS task (no task metadata endpoint to copy the network from).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from dagster._core.test_utils import create_run_for_test, in_process_test_workspace, instance_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from upstage_assets.deploy import instance_yaml_for
from upstage_assets_tests.deploy.conftest import FAKE_API_KEY, BootstrapRuns, MotoEndpoint

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/upstage-assets:abc123"


def _launcher_config(subnet: str, group: str) -> dict:
    shipped = yaml.safe_load(Path(instance_yaml_for("aws")).read_text())["run_launcher"]
    assert shipped["config"]["use_current_ecs_task_config"] is True
    config = dict(shipped["config"])
    config["use_current_ecs_task_config"] = False
    config["run_task_kwargs"] = {**config["run_task_kwargs"], "networkConfiguration": {
        "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group], "assignPublicIp": "DISABLED"}}}
    return {"module": shipped["module"], "class": shipped["class"], "config": config}


@pytest.mark.slow
def test_ecs_run_launcher_runs_task_with_overrides(bootstrapped: BootstrapRuns, aws_env: MotoEndpoint,
                                                    monkeypatch) -> None:
    secrets = boto3.client("secretsmanager")
    arns = {name: secrets.describe_secret(SecretId=f"upstage-assets/{slug}")["ARN"]
            for name, slug in (("UPSTAGE_API_KEY", "upstage-api-key"),
                               ("DAGSTER_POSTGRES_URL", "dagster-postgres-url"))}
    for key, value in {
        "UPSTAGE_ASSETS_RUN_TASK_DEFINITION": "upstage-assets-run",
        "UPSTAGE_ASSETS_ECS_CLUSTER": "upstage-assets",
        "UPSTAGE_API_KEY_SECRET_ARN": arns["UPSTAGE_API_KEY"],
        "DAGSTER_POSTGRES_URL_SECRET_ARN": arns["DAGSTER_POSTGRES_URL"],
        "UPSTAGE_ASSETS_ENV": "aws", "UPSTAGE_ASSETS_BACKEND": "upstage",
        "UPSTAGE_ASSETS_BUCKET": "upstage-assets-123456789012-us-east-1",
        "UPSTAGE_API_KEY": FAKE_API_KEY,  # present in the launcher's env; must not leak into the task
    }.items():
        monkeypatch.setenv(key, value)
    ec2 = boto3.client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    origin = LoadableTargetOrigin(executable_path=sys.executable,
                                  python_file=str(Path(__file__).with_name("ecs_code_location.py")),
                                  attribute="defs")

    with instance_for_test(overrides={"run_launcher": _launcher_config(subnet, group)}) as instance:
        with in_process_test_workspace(instance, origin, container_image=IMAGE) as workspace:
            location = workspace.get_code_location(workspace.code_location_names[0])
            remote_job = location.get_repository("__repository__").get_full_job("gpu_pages_job")
            run = create_run_for_test(instance, job_name="gpu_pages_job",
                                      remote_job_origin=remote_job.get_remote_origin(),
                                      job_code_origin=remote_job.get_python_origin(),
                                      tags={"gpu": "true", "dagster/partition": "doc-1a2b"})
            instance.launch_run(run.run_id, workspace)
            run = instance.get_run_by_id(run.run_id)

    task_arn = run.tags["ecs/task_arn"]
    ecs = boto3.client("ecs")
    (task,) = ecs.describe_tasks(cluster="upstage-assets", tasks=[task_arn], include=["TAGS"])["tasks"]
    # The launcher ran the family's latest revision as bootstrap registered it (no ad-hoc definition).
    latest = ecs.describe_task_definition(taskDefinition="upstage-assets-run")["taskDefinition"]
    assert task["taskDefinitionArn"] == latest["taskDefinitionArn"]
    assert latest["containerDefinitions"][0]["image"] == IMAGE
    assert task["clusterArn"].endswith("cluster/upstage-assets")
    assert task["capacityProviderName"] == "FARGATE_SPOT"  # first in our strategy, no launchType

    (override,) = task["overrides"]["containerOverrides"]
    assert override["name"] == "run"
    assert override["command"][:3] == ["dagster", "api", "execute_run"]
    execute_args = json.loads(override["command"][3])
    assert run.run_id in json.dumps(execute_args)
    assert task["overrides"]["cpu"] == "1024" and task["overrides"]["memory"] == "4096"
    assert override["cpu"] == 1024 and override["memory"] == 4096

    tags = {t["key"]: t["value"] for t in task["tags"]}
    assert tags["dagster/run_id"] == run.run_id
    assert tags["dagster/job_name"] == "gpu_pages_job"
    assert tags["gpu"] == "true" and tags["dagster/partition"] == "doc-1a2b"  # propagate_tags allow_list

    assert FAKE_API_KEY not in json.dumps(task, default=str)
