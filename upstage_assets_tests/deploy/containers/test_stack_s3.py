"""The compose stack's S3 profile: moto (made from PyPI when no registry answers) as the inbox.
Documents uploaded from the host to the bucket over HTTP are registered by the daemon's
``new_s3_documents`` sensor and processed in the containers; one row per document, each once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from upstage_assets_tests.deploy.containers import graphql_queries as gq
from upstage_assets_tests.deploy.containers.documents import sample_documents
from upstage_assets_tests.deploy.containers.podman import free_port, needs_podman, podman
from upstage_assets_tests.deploy.containers.stack import ComposeStack, write_env_file
from upstage_assets_tests.deploy.containers.test_stack import (
    finished_runs,
    service_images,
    table_rows,
    wait_materialized,
    wait_ready,
)

pytestmark = [needs_podman, pytest.mark.slow, pytest.mark.timeout(3600)]
BUCKET = "upstage-inbox"


@pytest.fixture(scope="module")
def s3_stack(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    env_file = tmp_path_factory.mktemp("s3stack") / "stack.env"
    write_env_file(env_file, {
        "UPSTAGE_ASSETS_INBOX": f"s3://{BUCKET}/incoming", "UPSTAGE_ASSETS_S3_ENDPOINT_URL": "http://s3:5000",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    stack = ComposeStack(
        project=f"upstage-s3-{uuid.uuid4().hex[:8]}", profiles=["s3"],
        env={"UPSTAGE_ASSETS_IMAGE": image, "UPSTAGE_ASSETS_ENV_FILE": str(env_file),
             "WEBSERVER_PORT": str(free_port()), **service_images()})
    try:
        stack.compose("up", "-d")
        wait_ready(stack)
        yield stack
    finally:
        stack.destroy()


def moto_endpoint(stack: ComposeStack) -> str:
    """The s3 service's address on the project network (a rootful host reaches it directly)."""
    networks = json.loads(podman("inspect", stack.container("s3")).stdout)[0]["NetworkSettings"]["Networks"]
    address = next(n["IPAddress"] for n in networks.values() if n["IPAddress"])
    return f"http://{address}:5000"


def test_documents_uploaded_to_the_s3_inbox_are_processed(s3_stack: ComposeStack, tmp_path: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint(s3_stack), aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    pdfs = [p for p in sample_documents(tmp_path, invoices=2, receipts=0, seed=7) if p.suffix == ".pdf"]
    for pdf in pdfs:
        s3.upload_file(str(pdf), BUCKET, f"incoming/{pdf.name}")
    wait_materialized(s3_stack, len(pdfs))
    runs = finished_runs(s3_stack)
    assert runs and all(r["status"] == "SUCCESS" for r in runs), runs
    assert {r["tags"].get("dagster/sensor_name") for r in runs} == {"new_s3_documents"}, runs
    uris = sorted(row["source_uri"] for row in table_rows(s3_stack))
    assert uris == sorted(f"s3://{BUCKET}/incoming/{p.name}" for p in pdfs), uris
    per_partition = gq.materializations_per_partition(s3_stack)
    assert len(per_partition) == len(pdfs) and set(per_partition.values()) == {1}, per_partition
