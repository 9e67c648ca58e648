"""k8s/manifests/code-server.yaml played by `podman kube play`: the Deployment's pod runs the image as
the manifest says (uid 10001, port 3030, UPSTAGE_ASSETS_ENV=k8s) and passes the image's smoke test.

What podman cannot play (RBAC, NetworkPolicy, Namespace, the K8sRunLauncher's Jobs, the Helm
chart) stays validated offline by upstage_assets_tests/deploy/test_k8s.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from upstage_assets_tests.deploy.containers.podman import REPO, logs, needs_podman, podman, wait_until

pytestmark = [needs_podman, pytest.mark.slow, pytest.mark.timeout(3600)]  # the first test may build the image
MANIFEST = REPO / "k8s" / "manifests" / "code-server.yaml"
POD = "upstage-assets-code-server-pod-0"


@pytest.fixture()
def played(image: str) -> Iterator[str]:
    """The code-server container of the played Deployment; `podman kube down` removes it all."""
    podman("kube", "down", str(MANIFEST), check=False, timeout=120)  # a leftover from an interrupted run
    try:
        podman("kube", "play", str(MANIFEST), timeout=300)
        pod = json.loads(podman("pod", "inspect", POD).stdout)
        containers = [c["Name"] for c in pod["Containers"] if c["Id"] != pod["InfraContainerID"]]
        assert len(containers) == 1, pod
        yield containers[0]
    finally:
        podman("kube", "down", str(MANIFEST), check=False, timeout=120)


def test_played_code_server_passes_the_smoke_test(played: str) -> None:
    assert podman("exec", played, "id", "-u").stdout.strip() == "10001"
    env = podman("exec", played, "printenv", "UPSTAGE_ASSETS_ENV").stdout.strip()
    assert env == "k8s"
    pod = json.loads(podman("pod", "inspect", POD).stdout)
    infra = json.loads(podman("inspect", pod["InfraContainerID"]).stdout)[0]
    address = next(n["IPAddress"] for n in infra["NetworkSettings"]["Networks"].values() if n["IPAddress"])
    health = [str(Path(sys.executable).with_name("dagster")), "api", "grpc-health-check", "--host", address,
              "--port", "3030"]
    wait_until(lambda: subprocess.run(health, capture_output=True, timeout=60).returncode == 0, 300,
               f"the played code server on {address}:3030", 3, lambda: logs(played))
    # validate opens an instance; the code server needs none, so a scratch home for this check.
    validated = podman("exec", "-e", "DAGSTER_HOME=/tmp/home", played, "sh", "-c",
                       "mkdir -p /tmp/home && dagster definitions validate -m upstage_assets.definitions",
                       timeout=300)
    assert "Validation successful" in validated.stdout + validated.stderr
    assert "ingest" in podman("exec", played, "upstage-assets", "--help").stdout
