"""Read the Parquet output straight from S3 as one dataset, with pyarrow (and pandas).

Each document's row is its own object under ``tables/<schema>/``; ``pyarrow.dataset`` reads
the folder as one table without downloading anything by hand. The file system is built
from the same settings as the storage resource (endpoint, region; credentials from the
environment's usual chain), so the same call reads from AWS or from a local S3 server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

if TYPE_CHECKING:
    from upstage_assets.resources.storage import StorageResource

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


def filesystem_for(storage: StorageResource) -> pafs.S3FileSystem:
    return s3_filesystem(storage.s3.endpoint_url, storage.s3.region_name)


def _bucket_path(uri: str) -> str:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return uri.removeprefix("s3://").rstrip("/")


def s3_dataset(uri: str, *, filesystem: pafs.FileSystem | None = None, endpoint_url: str | None = None,
               region: str | None = None) -> ds.Dataset:
    """Every Parquet object under ``s3://bucket/prefix`` as one ``pyarrow.dataset``."""
    fs = filesystem or s3_filesystem(endpoint_url, region)
    return ds.dataset(_bucket_path(uri), format="parquet", filesystem=fs)


def read_table_from_s3(uri: str, *, filesystem: pafs.FileSystem | None = None, endpoint_url: str | None = None,
                       region: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """The Parquet objects under ``uri`` read as one table (``.to_pandas()`` for a DataFrame)."""
    return s3_dataset(uri, filesystem=filesystem, endpoint_url=endpoint_url, region=region).to_table(columns=columns)


def read_output_tables_from_s3(output_root: str, *, area: str = "tables", filesystem: pafs.FileSystem | None = None,
                               endpoint_url: str | None = None, region: str | None = None) -> dict[str, pa.Table]:
    """``{schema_name: table}`` for an s3:// output root, like ``reporting.read_tables`` for folders."""
    fs = filesystem or s3_filesystem(endpoint_url, region)
    base = f"{_bucket_path(output_root)}/{area}"
    folders = [info for info in fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
               if info.type == pafs.FileType.Directory]
    tables = {}
    for folder in sorted(folders, key=lambda i: i.base_name):
        dataset = ds.dataset(folder.path, format="parquet", filesystem=fs)
        if dataset.files:
            tables[folder.base_name] = dataset.to_table()
    return tables
