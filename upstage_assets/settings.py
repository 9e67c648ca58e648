"""Environment-level settings read once at load time (one place for every env variable)."""

from __future__ import annotations

import os

ENVIRONMENTS = ("local", "aws", "k8s")
BACKENDS = ("local", "emulator", "upstage")


def environment() -> str:
    env = os.environ.get("UPSTAGE_ASSETS_ENV", "local")
    if env not in ENVIRONMENTS:
        raise ValueError(f"UPSTAGE_ASSETS_ENV={env!r}; expected one of {', '.join(ENVIRONMENTS)}")
    return env


def backend() -> str:
    name = os.environ.get("UPSTAGE_ASSETS_BACKEND", "local")
    if name not in BACKENDS:
        raise ValueError(f"UPSTAGE_ASSETS_BACKEND={name!r}; expected one of {', '.join(BACKENDS)}")
    return name


def data_root() -> str:
    return os.environ.get("UPSTAGE_ASSETS_DATA", "data")


def output_root() -> str:
    return os.environ.get("UPSTAGE_ASSETS_OUTPUT", f"{data_root()}/outputs")


def inbox() -> str:
    return os.environ.get("UPSTAGE_ASSETS_INBOX", f"{data_root()}/inbox")


def default_schema_name() -> str:
    return os.environ.get("UPSTAGE_ASSETS_DEFAULT_SCHEMA", "invoice")


def inbox_sensor_status() -> str:
    """Running by default locally (drop files, get tables); opt-in elsewhere."""
    default = "running" if environment() == "local" else "stopped"
    return os.environ.get("UPSTAGE_ASSETS_INBOX_SENSOR", default)


def s3_endpoint_url() -> str | None:
    return os.environ.get("UPSTAGE_ASSETS_S3_ENDPOINT_URL") or None
