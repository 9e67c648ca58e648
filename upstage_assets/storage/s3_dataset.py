"""Read the output straight from S3 with pyarrow (and pandas), from AWS or a local S3 server.

``s3_dataset`` gives a prefix as one ``pyarrow.dataset``: a Delta table's current version when
the prefix is one (``tables/<schema>``), else every Parquet object under it;
``read_output_tables_from_s3`` gives all tables as every other reader sees them (through
``storage/tables.py``). Endpoint and region come from the arguments or the environment,
credentials from the environment's usual chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from upstage_assets.storage.delta import TableLocation, s3_storage_options
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import S3ObjectStore
from upstage_assets.storage.tables import open_delta, read_tables

if TYPE_CHECKING:  # imported where a dataset is made (pyarrow.dataset loads pandas)
    import pyarrow.dataset as ds

DEFAULT_REGION = "us-east-1"


def s3_filesystem(endpoint_url: str | None = None, region: str | None = None) -> pafs.S3FileSystem:
    """A pyarrow S3 file system; ``endpoint_url`` points it at a non-AWS server (moto, MinIO)."""
    import os

    kwargs: dict[str, object] = {"region": region or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION}
    if endpoint_url:
        parsed = urlparse(endpoint_url)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
    return pafs.S3FileSystem(**kwargs)


def _bucket_path(uri: str) -> str:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return uri.removeprefix("s3://").rstrip("/")


def s3_dataset(uri: str, *, filesystem: pafs.FileSystem | None = None, endpoint_url: str | None = None,
               region: str | None = None) -> ds.Dataset:
    """``s3://bucket/prefix`` as one ``pyarrow.dataset``: the Delta table's current version if it is
    one (never a removed or replaced file), else every Parquet object under it."""
    location = TableLocation(uri.rstrip("/"), s3_storage_options(_client(endpoint_url, region)))
    if filesystem is None and location.exists():
        return open_delta(location).to_pyarrow_dataset()
    import pyarrow.dataset as ds

    fs = filesystem or s3_filesystem(endpoint_url, region)
    return ds.dataset(_bucket_path(uri), format="parquet", filesystem=fs)


def read_table_from_s3(uri: str, *, filesystem: pafs.FileSystem | None = None, endpoint_url: str | None = None,
                       region: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """The Parquet objects under ``uri`` read as one table (``.to_pandas()`` for a DataFrame)."""
    return s3_dataset(uri, filesystem=filesystem, endpoint_url=endpoint_url, region=region).to_table(columns=columns)


def _client(endpoint_url: str | None, region: str | None):  # type: ignore[no-untyped-def]
    import os

    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url,
                        region_name=region or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)


def read_output_tables_from_s3(output_root: str, *, area: str = "tables", endpoint_url: str | None = None,
                               region: str | None = None) -> dict[str, pa.Table]:
    """``{schema_name: table}`` for an s3:// output root: the one table reader (``storage/tables.py``),
    one row per document, like every other reader of the results."""
    store = S3ObjectStore(output_root, _client(endpoint_url, region))
    return read_tables(store, OutputLayout(), area=area)
