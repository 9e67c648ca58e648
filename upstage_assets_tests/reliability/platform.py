"""The platform as the reliability scenarios run it: emulator backend, tight client timeouts.

The read timeout sits just below the emulator's ``timeout_hold_s`` so an injected timeout is
a real client-side timeout (then retried), not a slow success. The key is an ``EnvVar``, so
run configs and event logs only ever hold the variable's name.
"""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar

from upstage_assets.defs.pipeline.document_pipeline import build_document_pipeline
from upstage_assets.defs.pipeline.jobs import process_documents_job
from upstage_assets.defs.resources import build_resources
from upstage_assets.resources.upstage_client import UpstageClient
from upstage_assets.settings import Settings

READ_TIMEOUT_ENV = "RELIABILITY_READ_TIMEOUT_S"
TIMEOUT_HOLD_S = 1.0  # the emulator's hold for an injected timeout
READ_TIMEOUT_S = 0.8  # the client's read timeout: just below the hold


def emulator_client(**overrides: object) -> UpstageClient:
    """The Upstage client against ``UPSTAGE_API_BASE_URL``, fast backoff for chaos runs."""
    settings: dict[str, object] = dict(
        base_url=os.environ.get("UPSTAGE_API_BASE_URL", ""), api_key=EnvVar("UPSTAGE_API_KEY"),
        read_timeout_s=float(os.environ.get(READ_TIMEOUT_ENV, READ_TIMEOUT_S)), connect_timeout_s=2.0,
        max_attempts=8, backoff_base_s=0.1, backoff_max_s=1.0, retry_total_s=60.0,
        parse_requests_per_second=50.0, parse_pages_per_minute=60_000.0, extract_requests_per_second=50.0,
        classify_requests_per_second=50.0, poll_requests_per_second=50.0, max_in_flight=16, poll_initial_s=0.05, poll_max_s=0.2,
        poll_timeout_s=30.0)
    settings.update(overrides)
    return UpstageClient(**settings)  # type: ignore[arg-type]


def reliability_definitions(**client_overrides: object) -> Definitions:
    """The document pipeline and its job with every resource the product builds, but this client."""
    resources = build_resources(Settings.from_env(backend="emulator"))
    resources["parser"] = emulator_client(**client_overrides)
    return Definitions(assets=[build_document_pipeline(Settings())], jobs=[process_documents_job], resources=resources)
