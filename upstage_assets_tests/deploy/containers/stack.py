"""The compose stack of docker/docker-compose.yml, driven with podman-compose from the outside.

One project per test module (its own name, network, volumes and webserver port), so a developer's
own stack on the same machine is never touched; ``destroy`` removes everything the project made.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upstage_assets_tests.deploy.containers.podman import REPO, podman

COMPOSE_FILE = REPO / "docker" / "docker-compose.yml"
LOCATION = "upstage_assets"


def podman_compose() -> str:
    return str(Path(sys.executable).with_name("podman-compose"))


def write_env_file(path: Path, extra: dict[str, str] | None = None) -> None:
    """docker/.env.example's variables with a fresh password (never printed by the tests)."""
    password = secrets.token_hex(16)
    values = {
        "POSTGRES_USER": "dagster", "POSTGRES_PASSWORD": password, "POSTGRES_DB": "dagster",
        "DAGSTER_POSTGRES_URL": f"postgresql+psycopg2://dagster:{password}@postgres:5432/dagster",
        "UPSTAGE_ASSETS_BACKEND": "local", "UPSTAGE_API_KEY": "", "UPSTAGE_ASSETS_S3_ENDPOINT_URL": "",
        "AWS_DEFAULT_REGION": "us-east-1", **(extra or {}),
    }
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


@dataclass
class ComposeStack:
    project: str
    env: dict[str, str]  # UPSTAGE_ASSETS_IMAGE, POSTGRES_IMAGE, UPSTAGE_ASSETS_ENV_FILE, WEBSERVER_PORT, ...
    profiles: list[str] = field(default_factory=list)

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        profile_args = [a for p in self.profiles for a in ("--profile", p)]
        command = [podman_compose(), "-p", self.project, "-f", str(COMPOSE_FILE), *profile_args, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **self.env})
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(command[1:])} exited {done.returncode}:\n{done.stdout[-4000:]}\n"
                                 f"{done.stderr[-4000:]}")
        return done

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def volume(self, name: str) -> str:
        return f"{self.project}_{name}"

    def volume_path(self, name: str) -> Path:
        return Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", self.volume(name)).stdout.strip())

    def destroy(self) -> None:
        """Containers, pod, network and volumes of this project, whatever state it is in."""
        subprocess.run([podman_compose(), "-p", self.project, "-f", str(COMPOSE_FILE),
                        *[a for p in self.profiles for a in ("--profile", p)], "down", "-v", "-t", "5"],
                       capture_output=True, timeout=300, env={**os.environ, **self.env})
        selector = f"label=io.podman.compose.project={self.project}"
        ids = podman("ps", "-aq", "--filter", selector, check=False).stdout.split()
        if ids:
            podman("rm", "-f", *ids, check=False, timeout=120)
        for volume in podman("volume", "ls", "-q", "--filter", selector, check=False).stdout.split():
            podman("volume", "rm", "-f", volume, check=False)
        podman("network", "rm", "-f", f"{self.project}_default", check=False)
        podman("pod", "rm", "-f", f"pod_{self.project}", check=False)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The webserver's GraphQL API, as the UI calls it."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.env['WEBSERVER_PORT']}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:  # GraphQL errors come back as HTTP 400/500 with a body
            raise AssertionError(f"GraphQL HTTP {error.code}: {error.read()[:2000]!r}") from None
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors: {answer['errors']}")
        return dict(answer["data"])

    def logs(self, service: str, tail: int = 80) -> str:
        done = podman("logs", "--tail", str(tail), self.container(service), check=False, timeout=30)
        return f"--- {service} ---\n{done.stdout[-6000:]}{done.stderr[-6000:]}"
