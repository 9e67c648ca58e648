"""The instance YAMLs shipped for aws and k8s validate against the config schemas of the classes
they name (dagster's own schemas), with every env var they read set as a deployment would set it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config_schema

from upstage_assets.deploy import INSTANCE_YAML_BY_ENV, instance_yaml_for
from upstage_assets.operations.event_log_storage import postgres_storage_yaml

REPO = Path(__file__).resolve().parents[2]
YAMLS = {"aws": instance_yaml_for("aws"), "k8s": instance_yaml_for("k8s"), "compose": REPO / "docker/dagster.yaml"}


def _load(name: str) -> dict[str, Any]:
    path = YAMLS[name]
    assert path is not None and path.exists()
    return yaml.safe_load(path.read_text())


def _postgres_urls(config: dict[str, Any]) -> list[str]:
    """The env var each storage reads its URL from: the one ``storage`` section, or the three."""
    if "storage" in config:
        return [config["storage"]["postgres"]["postgres_url"]["env"]]
    return [config[key]["config"]["postgres_url"]["env"] for key in ("run_storage", "event_log_storage",
                                                                      "schedule_storage")]


POOLED = {"event_log_storage": ("upstage_assets.operations.event_log_storage", "PooledPostgresEventLogStorage"),
          "run_storage": ("upstage_assets.operations.pooled_storages", "PooledPostgresRunStorage"),
          "schedule_storage": ("upstage_assets.operations.pooled_storages", "PooledPostgresScheduleStorage")}


@pytest.mark.parametrize("name, pooled", [("aws", True), ("compose", True), ("k8s", False)])
@pytest.mark.parametrize("storage", sorted(POOLED))
def test_storages_are_pooled_where_every_process_runs_the_project_image(name: str, pooled: bool, storage: str) -> None:
    """The Helm chart's webserver and daemon run Dagster's images, which cannot import the project."""
    section = _load(name).get(storage, {})
    assert ((section.get("module"), section.get("class")) == POOLED[storage]) == pooled


def test_postgres_storage_yaml_writes_the_shipped_sections() -> None:
    written = yaml.safe_load(postgres_storage_yaml("{env: DAGSTER_POSTGRES_URL}"))
    assert set(written) == {"run_storage", "event_log_storage", "schedule_storage"}
    for name in ("compose", "aws"):
        assert written == {key: _load(name)[key] for key in written}, name
    url = "postgresql+psycopg2://u:p'w#x@db:5432/dagster"  # quotes and a comment sign survive
    assert yaml.safe_load(postgres_storage_yaml(url))["event_log_storage"]["config"]["postgres_url"] == url


def _class_config_ok(section: dict[str, Any]) -> None:
    cls = getattr(importlib.import_module(section["module"]), section["class"])
    result = process_config(cls.config_type(), section.get("config") or {})
    assert result.success, [e.message for e in result.errors or []]


@pytest.mark.parametrize("name", sorted(YAMLS))
def test_instance_yaml_validates(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DAGSTER_POSTGRES_URL", "UPSTAGE_ASSETS_RUN_TASK_DEFINITION", "UPSTAGE_ASSETS_ECS_CLUSTER",
                "UPSTAGE_API_KEY_SECRET_ARN", "DAGSTER_POSTGRES_URL_SECRET_ARN", "UPSTAGE_ASSETS_BUCKET",
                "UPSTAGE_ASSETS_K8S_NAMESPACE"):
        monkeypatch.setenv(var, "x")
    config = _load(name)
    result = process_config(dagster_instance_config_schema(), config)
    assert result.success, [e.message for e in result.errors or []]
    for key in ("run_launcher", "run_coordinator", "compute_logs", "run_storage", "event_log_storage",
                "schedule_storage"):
        if key in config:
            _class_config_ok(config[key])
    assert config["telemetry"]["enabled"] is False


@pytest.mark.parametrize("name", sorted(YAMLS))
def test_postgres_url_comes_from_env_with_psycopg2_hint(name: str) -> None:
    assert set(_postgres_urls(_load(name))) == {"DAGSTER_POSTGRES_URL"}
    assert "postgresql+psycopg2" in YAMLS[name].read_text()


def test_aws_launcher_spot_first_and_secrets_by_arn() -> None:
    launcher = _load("aws")["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    strategy = launcher["config"]["run_task_kwargs"]["capacityProviderStrategy"]
    assert strategy[0]["capacityProvider"] == "FARGATE_SPOT"
    assert {s["name"] for s in launcher["config"]["secrets"]} == {"UPSTAGE_API_KEY", "DAGSTER_POSTGRES_URL"}
    assert all(set(s["valueFrom"]) == {"env"} for s in launcher["config"]["secrets"])
    assert _load("aws")["compute_logs"]["class"] == "S3ComputeLogManager"


def test_k8s_launcher() -> None:
    launcher = _load("k8s")["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert "upstage-api-key" in launcher["config"]["env_secrets"]


def test_unknown_env_is_rejected() -> None:
    assert set(INSTANCE_YAML_BY_ENV) == {"local", "aws", "k8s"}
    with pytest.raises(ValueError, match="UPSTAGE_ASSETS_ENV"):
        instance_yaml_for("prod")
