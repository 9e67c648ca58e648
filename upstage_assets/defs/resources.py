"""The resources of one environment and backend, chosen in one place from the settings."""

from __future__ import annotations

from typing import Any

from dagster_aws.s3 import S3Resource

from upstage_assets.resources.io_managers import DocumentJsonIOManager, ParquetTableIOManager
from upstage_assets.resources.local_engine import LocalEngineResource
from upstage_assets.resources.storage import StorageResource
from upstage_assets.settings import Settings

#: The emulator's own limits are off by default, so the client paces itself generously; an
#: emulator started with ``--rps-limits`` wants UPSTAGE_CLIENT_PARSE_REQUESTS_PER_SECOND etc. to match.
EMULATOR_CLIENT_LIMITS: dict[str, float | int] = {
    "parse_requests_per_second": 20.0, "parse_pages_per_minute": 60_000.0,
    "extract_requests_per_second": 20.0, "classify_requests_per_second": 20.0, "max_in_flight": 16,
}


def build_parser_resource(settings: Settings) -> Any:
    """The ``parser`` resource: the local engine, or the Upstage client (real API or emulator)."""
    if settings.backend == "local":
        return LocalEngineResource()
    from dagster import EnvVar

    from upstage_assets.resources.upstage_client import UpstageClient

    preset: dict[str, Any] = dict(EMULATOR_CLIENT_LIMITS) if settings.backend == "emulator" else {}
    preset.update(settings.client_preset())  # UPSTAGE_TIER: every endpoint's limits for the account's tier
    # The environment's UPSTAGE_CLIENT_* limits win over the presets; run config wins over all.
    return UpstageClient(base_url=settings.base_url, backend_label=settings.backend,
                         api_key=EnvVar("UPSTAGE_API_KEY"), budget_per_run_usd=settings.budget_per_run_usd,
                         budget_per_day_usd=settings.budget_per_day_usd, rate_limit_store=settings.state_store,
                         **{**preset, **settings.client_overrides()})


def build_resources(settings: Settings) -> dict[str, Any]:
    """Storage, parser and the two IO managers, all reading the same storage."""
    storage = StorageResource(output_root=settings.output_root, inbox=settings.inbox,
                              s3=S3Resource(endpoint_url=settings.s3_endpoint_url))
    return {
        "storage": storage,
        "parser": build_parser_resource(settings),
        "document_json_io_manager": DocumentJsonIOManager(storage=storage),
        "parquet_table_io_manager": ParquetTableIOManager(storage=storage),
    }
