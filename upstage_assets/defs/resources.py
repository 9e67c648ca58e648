"""Resources per environment and backend, chosen from one place."""

from __future__ import annotations

import os
from typing import Any

from dagster_aws.s3 import S3Resource

from upstage_assets import settings
from upstage_assets.resources.io_managers import DocumentJsonIOManager, ParquetTableIOManager
from upstage_assets.resources.local_engine import LocalEngineResource
from upstage_assets.resources.storage import StorageResource


def build_parser_resource(backend: str) -> Any:
    """The ``parser`` resource: the local engine, or the Upstage client (real API or emulator)."""
    if backend == "local":
        return LocalEngineResource()
    from dagster import EnvVar

    from upstage_assets.resources.upstage_client import UpstageClient

    if backend == "emulator":
        # The emulator's default limits are generous; the client still paces itself.
        return UpstageClient(base_url=os.environ.get("UPSTAGE_API_BASE_URL", "http://127.0.0.1:8765"),
                             api_key=EnvVar("UPSTAGE_API_KEY"), parse_requests_per_second=20.0,
                             parse_pages_per_minute=60_000.0, extract_requests_per_second=20.0,
                             max_in_flight=16)
    return UpstageClient(base_url=os.environ.get("UPSTAGE_API_BASE_URL", "https://api.upstage.ai"),
                         api_key=EnvVar("UPSTAGE_API_KEY"))


def backend_name(parser_resource: Any) -> str:
    """What the lineage column and the UI call the backend that ran."""
    if isinstance(parser_resource, LocalEngineResource):
        return "local"
    base_url = str(getattr(parser_resource, "base_url", ""))
    return "emulator" if base_url.startswith(("http://127.", "http://localhost", "http://[::1]")) else "upstage"


def price_per_page(parser_resource: Any) -> float:
    """Estimated price of one parsed page (0 for the local engine)."""
    return float(getattr(parser_resource, "price_parse_standard", 0.0) or 0.0)


def build_resources(environment: str | None = None, backend: str | None = None) -> dict[str, Any]:
    environment = environment or settings.environment()
    backend = backend or settings.backend()
    storage = StorageResource(
        output_root=settings.output_root(), inbox=settings.inbox(),
        s3=S3Resource(endpoint_url=settings.s3_endpoint_url()),
    )
    return {
        "storage": storage,
        "parser": build_parser_resource(backend),
        "document_json_io_manager": DocumentJsonIOManager(storage=storage),
        "parquet_table_io_manager": ParquetTableIOManager(storage=storage),
    }
