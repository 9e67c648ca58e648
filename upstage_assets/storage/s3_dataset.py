"""Read the Parquet output straight from S3 as one dataset, with pyarrow (and pandas).

``s3_dataset`` gives the raw ``pyarrow.dataset`` of a prefix (every file, every row);
``read_output_tables_from_s3`` gives the tables as every other reader sees them (one current
row per document, through ``storage/tables.py``). The file system is built
from the same settings as the storage resource (endpoint, region; credentials from the
environment's usual chain), so the same call reads from AWS or from a local S3 server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.tables import read_tables

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
    """Every Parquet object under ``s3://bucket/prefix`` as one ``pyarrow.dataset``."""
    fs = filesystem or s3_filesystem(endpoint_url, region)
    return ds.dataset(_bucket_path(uri), format="parquet", filesystem=fs)


def read_table_from_s3(uri: str, *, filesystem: pafs.FileSystem | None = None, endpoint_url: str | None = None,
                       region: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """The Parquet objects under ``uri`` read as one table (``.to_pandas()`` for a DataFrame)."""
    return s3_dataset(uri, filesystem=filesystem, endpoint_url=endpoint_url, region=region).to_table(columns=columns)


@dataclass(frozen=True)
class _Listed:
    key: str


@dataclass(frozen=True)
class _ArrowFiles:
    """The table reader's view of a prefix on a pyarrow file system (list keys, read bytes)."""

    filesystem: pafs.FileSystem
    base: str  # bucket/prefix, no scheme

    def list(self, prefix: str = "") -> Iterator[_Listed]:  # noqa: A003
        root = f"{self.base}/{prefix}".rstrip("/")
        infos = self.filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
        for info in sorted(infos, key=lambda i: i.path):
            if info.type == pafs.FileType.File:
                yield _Listed(info.path[len(self.base) + 1:])

    def read_bytes(self, key: str) -> bytes:
        with self.filesystem.open_input_stream(f"{self.base}/{key}") as stream:
            return stream.read()


def read_output_tables_from_s3(output_root: str, *, area: str = "tables", filesystem: pafs.FileSystem | None = None,
                               endpoint_url: str | None = None, region: str | None = None) -> dict[str, pa.Table]:
    """``{schema_name: table}`` for an s3:// output root: the one table reader (``storage/tables.py``),
    one current row per document, like every other reader of the results."""
    fs = filesystem or s3_filesystem(endpoint_url, region)
    return read_tables(_ArrowFiles(fs, _bucket_path(output_root)), OutputLayout(), area=area)
