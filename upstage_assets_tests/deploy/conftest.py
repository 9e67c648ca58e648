"""Shared fixtures: one moto server over real HTTP on 127.0.0.1, and one bootstrapped account in it.

boto3 reaches it through AWS_ENDPOINT_URL (boto3's own setting), exactly as it would reach
LocalStack or a VPC endpoint; nothing patches botocore in-process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from upstage_assets.aws import bootstrap
from upstage_assets_tests.fixtures.moto import moto_server

FAKE_API_KEY = "up_test_key_never_print_me_7f3a"


@dataclass(frozen=True)
class MotoEndpoint:
    url: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[MotoEndpoint]:
    # moto reads this when it builds the IAM backend (its HTTP config API does not cover IAM).
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    with moto_server() as url:
        yield _configured(url)


def _configured(url: str) -> MotoEndpoint:
    # Real moto settings, over its HTTP API: AWS managed policies exist (as in a real account), and
    # Batch jobs are accepted and complete without Docker (there is no Docker daemon here).
    body = json.dumps({"iam": {"load_aws_managed_policies": True}, "batch": {"use_docker": False}}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/config", data=body, method="POST"))
    # Backends built before the config change keep the old settings: rebuild them.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST"))
    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    return MotoEndpoint(url, env)


@pytest.fixture()
def aws_env(moto_endpoint: MotoEndpoint, monkeypatch: pytest.MonkeyPatch) -> MotoEndpoint:
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in moto_endpoint.env.items():
        monkeypatch.setenv(key, value)
    return moto_endpoint


@dataclass(frozen=True)
class BootstrapRuns:
    dry_run: str
    first: str
    second: str


def run_bootstrap(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = bootstrap.main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="session")
def bootstrapped(moto_endpoint: MotoEndpoint) -> BootstrapRuns:
    """Dry run, then bootstrap twice against the same (empty) moto account."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in moto_endpoint.env.items():
            mp.setenv(key, value)
        mp.setenv("UPSTAGE_API_KEY", FAKE_API_KEY)
        mp.setenv("DAGSTER_POSTGRES_URL", "postgresql+psycopg2://dagster:pw@db:5432/dagster")
        outputs = []
        for argv in (["--dry-run", "--image-tag", "abc123"], ["--image-tag", "abc123"], ["--image-tag", "abc123"]):
            code, out = run_bootstrap(argv)
            assert code == 0, out
            outputs.append(out)
    return BootstrapRuns(*outputs)
