"""Kubernetes artifacts checked offline: manifests against the pinned API schemas, Helm values against
the chart's structure, and the run/step pod dagster-k8s itself builds for a GPU-tagged step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes_validate
import pytest
import yaml
from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

from upstage_assets.deploy.k8s_gpu import GPU_OP_TAGS, GPU_RESOURCE, gpu_k8s_config, gpu_op_tags

REPO = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.33.0"  # the oldest minor we support (EKS/GKE standard channel in 2026)
MANIFESTS = sorted((REPO / "k8s" / "manifests").glob("*.yaml"))
VALUES = yaml.safe_load((REPO / "k8s" / "values.yaml").read_text())
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/upstage-assets:abc123"


def _validate(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_pinned_kubernetes(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        _validate(doc)
        assert doc["kind"] == "Namespace" or doc["metadata"]["namespace"] == "upstage-assets"


def test_validator_rejects_a_broken_manifest() -> None:
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "stringData": {"k": 1}})


def test_secrets_are_templates_not_values() -> None:
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Secret":
                assert all(v.startswith("${") for v in doc["stringData"].values()), path.name


def test_network_policy_keeps_webserver_internal() -> None:
    docs = list(yaml.safe_load_all((REPO / "k8s/manifests/networkpolicy.yaml").read_text()))
    (web,) = [d for d in docs if d["spec"]["podSelector"]["matchLabels"].get("component") == "dagster-webserver"]
    sources = web["spec"]["ingress"][0]["from"]
    assert {"podSelector": {}} in sources  # same namespace
    assert all("ipBlock" not in s for s in sources)  # nothing from outside the cluster
    assert VALUES["dagsterWebserver"]["service"]["type"] == "ClusterIP"


def test_rbac_lets_run_pods_launch_step_jobs_only_in_namespace() -> None:
    docs = {d["kind"] + "/" + d["metadata"]["name"]: d
            for d in yaml.safe_load_all((REPO / "k8s/manifests/rbac.yaml").read_text())}
    assert not any(k.startswith("ClusterRole") for k in docs)
    role = docs["Role/dagster-job-launcher"]
    jobs_rule = next(r for r in role["rules"] if "jobs" in r["resources"])
    assert {"create", "get", "watch", "delete"} <= set(jobs_rule["verbs"])
    subjects = {s["name"] for s in docs["RoleBinding/dagster-job-launcher"]["subjects"]}
    run_sa = VALUES["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]["serviceAccountName"]
    assert run_sa in subjects and "ServiceAccount/" + run_sa in docs


# -- Helm values ------------------------------------------------------------------------------
# Keys the dagster/dagster chart (1.13) accepts at the levels we set; the chart's values.schema.json
# rejects unknown keys there (additionalProperties: false), so a typo would fail `helm install`.
CHART_TOP_LEVEL = {"global", "serviceAccount", "telemetry", "dagsterWebserver", "dagster-user-deployments",
                   "runLauncher", "postgresql", "generatePostgresqlPasswordSecret", "dagsterDaemon",
                   "computeLogManager", "ingress", "imagePullSecrets", "pythonLogs", "busybox", "migrate",
                   "retention", "rabbitmq", "redis", "flower", "scheduler", "generateCeleryConfigSecret",
                   "additionalInstanceConfig"}
USER_DEPLOYMENT_KEYS = {"name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "port", "env", "envConfigMaps",
                        "envSecrets", "annotations", "nodeSelector", "affinity", "tolerations",
                        "podSecurityContext", "securityContext", "resources", "replicaCount", "labels",
                        "livenessProbe", "readinessProbe", "startupProbe", "service", "volumes", "volumeMounts",
                        "includeConfigInLaunchedRuns", "deploymentNamespace", "schedulerName", "initContainers",
                        "sidecarContainers", "deploymentStrategy"}
K8S_RUN_LAUNCHER_KEYS = {"image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile",
                         "envConfigMaps", "envSecrets", "envVars", "volumeMounts", "volumes", "labels",
                         "resources", "schedulerName", "securityContext", "runK8sConfig", "failPodOnRunFailure",
                         "runJobRetention"}
RUN_K8S_CONFIG_KEYS = {"containerConfig", "podSpecConfig", "podTemplateSpecMetadata", "jobSpecConfig",
                       "jobMetadata"}


def test_helm_values_use_only_chart_keys() -> None:
    assert set(VALUES) <= CHART_TOP_LEVEL
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    assert set(deployment) <= USER_DEPLOYMENT_KEYS
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    assert set(launcher) <= K8S_RUN_LAUNCHER_KEYS
    assert set(launcher["runK8sConfig"]) <= RUN_K8S_CONFIG_KEYS
    assert deployment["image"]["pullPolicy"] in {"Always", "IfNotPresent", "Never"}


def test_helm_values_embedded_kubernetes_objects_validate() -> None:
    """Chart fields that are Kubernetes types (resources, env, security contexts) pass the k8s schema,
    checked by embedding them in a Pod the way the chart renders them."""
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    run_cfg = launcher["runK8sConfig"]
    containers = [
        {"name": "code", "image": IMAGE, "env": deployment["env"], "resources": deployment["resources"],
         "securityContext": deployment["securityContext"],
         "envFrom": [{"secretRef": s} for s in deployment["envSecrets"]]},
        {"name": "run", "image": IMAGE, **run_cfg["containerConfig"],
         "envFrom": [{"secretRef": s} for s in launcher["envSecrets"]]},
        {"name": "web", "image": IMAGE, "resources": VALUES["dagsterWebserver"]["resources"]},
        {"name": "daemon", "image": IMAGE, "resources": VALUES["dagsterDaemon"]["resources"]},
    ]
    pod_spec = {"containers": containers, "securityContext": deployment["podSecurityContext"],
                "serviceAccountName": run_cfg["podSpecConfig"]["serviceAccountName"]}
    _validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "values-check"}, "spec": pod_spec})
    _validate({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "values-check"},
               "spec": {**run_cfg["jobSpecConfig"], "template": {"spec": {
                   "restartPolicy": "Never", "containers": containers[1:2],
                   "securityContext": run_cfg["podSpecConfig"]["securityContext"]}}}})


def test_helm_values_reference_secrets_and_postgres_by_name_only() -> None:
    assert "postgresqlPassword" not in VALUES["postgresql"]
    assert "UPSTAGE_API_KEY" not in json.dumps(VALUES)
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"
    assert VALUES["postgresql"]["enabled"] is False


# -- the step pod dagster-k8s builds for a GPU asset ------------------------------------------
def test_gpu_step_job_built_by_dagster_k8s() -> None:
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    job_config = DagsterK8sJobConfig(
        job_image=IMAGE, dagster_home="/opt/dagster/dagster_home",
        image_pull_policy=launcher["imagePullPolicy"],
        service_account_name=launcher["runK8sConfig"]["podSpecConfig"]["serviceAccountName"],
        env_secrets=[s["name"] for s in launcher["envSecrets"]],
        env_vars=["UPSTAGE_ASSETS_ENV=k8s", "UPSTAGE_ASSETS_BACKEND=upstage"],
        instance_config_map="dagster-instance", postgres_password_secret="dagster-postgresql-secret")
    user_config = get_user_defined_k8s_config(GPU_OP_TAGS)
    job = construct_dagster_k8s_job(
        job_config, args=["dagster", "api", "execute_step", "{}"], job_name="dagster-step-abc123",
        user_defined_k8s_config=user_config, component="step_worker",
        labels={"dagster/op": "preprocessed_pages"},
        env_vars=[{"name": "DAGSTER_RUN_STEP_KEY", "value": "preprocessed_pages"}])
    manifest = kubernetes.client.ApiClient().sanitize_for_serialization(job)
    _validate(manifest)

    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["resources"]["limits"][GPU_RESOURCE] == "1"
    assert container["resources"]["requests"][GPU_RESOURCE] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["serviceAccountName"] == "upstage-assets-runs"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["UPSTAGE_ASSETS_ENV"] == "k8s" and env["DAGSTER_RUN_STEP_KEY"] == "preprocessed_pages"
    assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    assert {"secretRef": {"name": "upstage-api-key"}} in container["envFrom"]
    assert "UPSTAGE_API_KEY" not in env  # the key arrives by secret reference only


def test_gpu_tags_are_strings_and_scale() -> None:
    assert all(isinstance(v, str) for v in GPU_OP_TAGS.values()) and GPU_OP_TAGS["gpu"] == "true"
    two = json.loads(gpu_op_tags(gpus=2)["dagster-k8s/config"])
    assert two["container_config"]["resources"]["limits"][GPU_RESOURCE] == "2"
    with pytest.raises(ValueError):
        gpu_k8s_config(gpus=0)
