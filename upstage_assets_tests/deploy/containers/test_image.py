"""The image itself, run with podman: it starts as non-root, its code location validates, its code
server answers on port 4000, the CLI works, and one sample document processed by the local engine
inside the container writes its row to the table on a mounted folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

from upstage_assets_tests.deploy.containers.documents import sample_documents
from upstage_assets_tests.deploy.containers.podman import (
    LABEL,
    free_port,
    logs,
    needs_podman,
    podman,
    remove_labelled,
    wait_until,
)

pytestmark = [needs_podman, pytest.mark.slow, pytest.mark.timeout(3600)]  # the first test may build the image
UID = 10001  # the Dockerfile's dagster user


@pytest.fixture()
def token() -> Iterator[str]:
    token = f"image-{uuid.uuid4().hex[:8]}"
    yield token
    remove_labelled(token)


def run_in(image: str, token: str, *command: str, args: tuple[str, ...] = (), timeout: float = 300
           ) -> subprocess.CompletedProcess[str]:
    return podman("run", "--rm", "--label", f"{LABEL}={token}", *args, image, *command, timeout=timeout)


def test_runs_as_the_unprivileged_user(image: str, token: str) -> None:
    config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert run_in(image, token, "id", "-u").stdout.strip() == str(UID)


def test_definitions_validate_and_cli_help(image: str, token: str) -> None:
    # validate opens the instance: the image's own dagster.yaml wants PostgreSQL, so a scratch home here.
    validated = run_in(image, token, "sh", "-c", "mkdir -p /tmp/home && DAGSTER_HOME=/tmp/home "
                       "dagster definitions validate -m upstage_assets.definitions")
    assert "Validation successful" in validated.stdout + validated.stderr
    helped = run_in(image, token, "upstage-assets", "--help").stdout
    assert "ingest" in helped and "retry-failed" in helped


def test_code_server_answers_on_its_port(image: str, token: str) -> None:
    """The image's default command is the code server; a health check from the host reaches it."""
    port = free_port()
    name = f"upstage-code-server-{token}"
    podman("run", "-d", "--name", name, "--label", f"{LABEL}={token}", "-p", f"127.0.0.1:{port}:4000", image)
    health = [str(Path(sys.executable).with_name("dagster")), "api", "grpc-health-check", "--host", "127.0.0.1",
              "--port", str(port)]

    def serving() -> bool:
        return subprocess.run(health, capture_output=True, timeout=60).returncode == 0

    wait_until(serving, timeout=300, what="the code server's gRPC health check", interval=3,
               on_timeout=lambda: logs(name))
    state = json.loads(podman("inspect", name).stdout)[0]["State"]
    assert state["Running"], logs(name)


def test_one_sample_document_writes_its_row(image: str, token: str, tmp_path: Path) -> None:
    """`upstage-assets ingest --wait` in the container (local engine, SQLite instance in the container's
    /tmp) reads a sample invoice from the mounted folder and writes the validated row beside it."""
    data = tmp_path / "data"
    (data / "inbox").mkdir(parents=True)
    (pdf,) = [p for p in sample_documents(tmp_path / "samples", invoices=1, receipts=0) if p.suffix == ".pdf"]
    shutil.copy(pdf, data / "inbox" / pdf.name)
    for path in (data, *data.rglob("*")):
        os.chown(path, UID, UID)
    done = run_in(image, token, "sh", "-c",
                  "mkdir -p /tmp/home && upstage-assets ingest /data/inbox --wait --no-progress --json",
                  args=("-v", f"{data}:/data", "-e", "DAGSTER_HOME=/tmp/home"), timeout=600)
    table = DeltaTable(str(data / "outputs" / "tables" / "invoice")).to_pyarrow_table().to_pylist()
    assert len(table) == 1, done.stdout + done.stderr
    (row,) = table
    assert row["source_uri"].endswith(f"/inbox/{pdf.name}"), row
