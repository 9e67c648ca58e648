"""k8s/manifests/code-server.yaml played by `podman kube play`: the Deployment's pod runs the image as
the manifest says (uid 10001, port 3030, UPSTAGE_ASSETS_ENV=k8s) and passes the image's smoke test.

What podman cannot play (RBAC, NetworkPolicy, Namespace, the K8sRunLauncher's Jobs, the Helm
chart) stays validated offline by upstage_assets_tests/deploy/test_k8s.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from deltalake import DeltaTable

from upstage_assets_tests.deploy.containers.documents import sample_documents
from upstage_assets_tests.deploy.containers.podman import REPO, logs, needs_podman, podman, wait_until

pytestmark = [needs_podman, pytest.mark.slow, pytest.mark.timeout(3600)]  # the first test may build the image
MANIFEST = REPO / "k8s" / "manifests" / "code-server.yaml"


@pytest.fixture()
def played(image: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(pod, code-server container) of the played Deployment; `podman kube down` removes them.

    The shipped manifest is played with two changes, so that test runs on one machine never
    collide: the Deployment's name is made unique, and its containerPort is dropped (podman 4.3
    publishes a containerPort on the host, Kubernetes does not; the test reaches the pod's own IP)."""
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    deployment["metadata"]["name"] += f"-{uuid.uuid4().hex[:8]}"
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        container.pop("ports", None)
    played_file = tmp_path / MANIFEST.name
    played_file.write_text(yaml.safe_dump_all(docs))
    pod_name = f"{deployment['metadata']['name']}-pod-0"
    try:
        podman("kube", "play", str(played_file), timeout=300)
        pod = json.loads(podman("pod", "inspect", pod_name).stdout)
        containers = [c["Name"] for c in pod["Containers"] if c["Id"] != pod["InfraContainerID"]]
        assert len(containers) == 1, pod
        yield pod_name, containers[0]
    finally:
        podman("kube", "down", str(played_file), check=False, timeout=120)


def test_played_code_server_passes_the_smoke_test(played: tuple[str, str]) -> None:
    pod_name, played_container = played
    assert podman("exec", played_container, "id", "-u").stdout.strip() == "10001"
    env = podman("exec", played_container, "printenv", "UPSTAGE_ASSETS_ENV").stdout.strip()
    assert env == "k8s"
    pod = json.loads(podman("pod", "inspect", pod_name).stdout)
    infra = json.loads(podman("inspect", pod["InfraContainerID"]).stdout)[0]
    address = next(n["IPAddress"] for n in infra["NetworkSettings"]["Networks"].values() if n["IPAddress"])
    health = [str(Path(sys.executable).with_name("dagster")), "api", "grpc-health-check", "--host", address,
              "--port", "3030"]
    wait_until(lambda: subprocess.run(health, capture_output=True, timeout=60).returncode == 0, 300,
               f"the played code server on {address}:3030", 3, lambda: logs(played_container))
    # validate opens an instance; the code server needs none, so a scratch home for this check.
    validated = podman("exec", "-e", "DAGSTER_HOME=/tmp/home", played_container, "sh", "-c",
                       "mkdir -p /tmp/home && dagster definitions validate -m upstage_assets.definitions",
                       timeout=300)
    assert "Validation successful" in validated.stdout + validated.stderr
    assert "ingest" in podman("exec", played_container, "upstage-assets", "--help").stdout


def test_played_pod_processes_a_sample_document(played: tuple[str, str], tmp_path: Path) -> None:
    """One sample invoice copied into the pod, `upstage-assets ingest --wait` with the local engine, one row."""
    _, played_container = played
    (pdf,) = [p for p in sample_documents(tmp_path, invoices=1, receipts=0) if p.suffix == ".pdf"]
    podman("exec", played_container, "mkdir", "-p", "/tmp/data/inbox", "/tmp/home")
    podman("cp", str(pdf), f"{played_container}:/tmp/data/inbox/{pdf.name}")  # --archive: owned by uid 10001
    podman("exec", "-e", "DAGSTER_HOME=/tmp/home", "-e", "UPSTAGE_ASSETS_DATA=/tmp/data", played_container,
           "upstage-assets", "ingest", "/tmp/data/inbox", "--wait", "--no-progress", timeout=600)
    # The table is copied out and read here, as the other container tests read theirs: a reader started
    # inside the pod once printed the right row and then aborted in pyarrow's teardown (exit 134).
    podman("cp", f"{played_container}:/tmp/data/outputs/tables/invoice", str(tmp_path / "invoice"))
    rows = DeltaTable(str(tmp_path / "invoice")).to_pyarrow_table().to_pylist()
    assert [row["source_uri"] for row in rows] == [f"/tmp/data/inbox/{pdf.name}"]
