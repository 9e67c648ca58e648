"""A real S3 API on loopback (moto's threaded server) and storage pointed at it.

One server per session; every test gets its own bucket, so tests never see each other's
objects. Credentials are dummies set in the environment, the way production gets them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dagster import SensorDefinition
from dagster_aws.s3 import S3Resource

from upstage_assets.operations.runner import tick_sensor
from upstage_assets.resources.storage import StorageResource
from upstage_assets_tests.fixtures.moto import moto_server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws_env(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never probe the instance metadata service
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Bucket:
    name: str
    endpoint: str
    client: Any

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def keys(self, prefix: str = "") -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        return [o["Key"] for page in paginator.paginate(Bucket=self.name, Prefix=prefix)
                for o in page.get("Contents", [])]

    def storage(self, inbox: str = "inbox", output: str = "outputs") -> StorageResource:
        return StorageResource(output_root=f"s3://{self.name}/{output}", inbox=f"s3://{self.name}/{inbox}",
                               s3=S3Resource(endpoint_url=self.endpoint, region_name="us-east-1"))


@pytest.fixture
def bucket(moto_endpoint, aws_env) -> Bucket:
    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(name, moto_endpoint, client)


@dataclass
class Ticker:
    """Evaluates a sensor the way the daemon does: cursor in, partitions added, cursor out."""

    sensor: SensorDefinition
    instance: Any
    storage: StorageResource
    cursor: str | None = None

    def tick(self, *, apply: bool = True) -> Any:
        data = tick_sensor(self.sensor, self.instance, self.storage, self.cursor, apply=apply)
        if apply:
            self.cursor = data.cursor
        return data
