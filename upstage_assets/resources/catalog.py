"""Resources per environment and backend, chosen from one place."""

from __future__ import annotations

from typing import Any

from dagster_aws.s3 import S3Resource

from upstage_assets import settings
from upstage_assets.resources.io_managers import DocumentJsonIOManager, ParquetTableIOManager
from upstage_assets.resources.local_engine import LocalEngineResource
from upstage_assets.resources.storage import StorageResource


def build_parser_resource(backend: str) -> Any:
    if backend == "local":
        return LocalEngineResource()
    from upstage_assets.resources.upstage_client import UpstageClient  # the client issue's module

    return UpstageClient.from_environment(backend)


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
