"""The storage resource: the inbox documents come from and the root results go to.

Both may be a local folder or an ``s3://bucket/prefix``; the S3 client comes from
dagster-aws's ``S3Resource`` (endpoint, region, credentials from the environment), so the
same code runs on a laptop, against a moto server in tests, and on AWS.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from upstage_assets.errors import SourceUnavailable
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore, is_missing_object, open_store, read_s3_object
from upstage_assets.storage.registry import DocumentRegistry


class StorageResource(ConfigurableResource):
    output_root: str = Field(default="data/outputs", description="folder or s3://bucket/prefix for all results")
    inbox: str = Field(default="data/inbox", description="folder or s3://bucket/prefix watched for new documents")
    s3: S3Resource = Field(default_factory=S3Resource, description="S3 client settings (endpoint, region)")

    _client: Any = PrivateAttr(default=None)

    def _s3_client(self) -> Any:
        if self._client is None:
            self._client = self.s3.get_client()
        return self._client

    @cached_property
    def layout(self) -> OutputLayout:
        return OutputLayout()

    def output_store(self) -> ObjectStore:
        return open_store(self.output_root, self._s3_client)

    def inbox_store(self) -> ObjectStore:
        return open_store(self.inbox, self._s3_client)

    def registry(self) -> DocumentRegistry:
        return DocumentRegistry(self.output_store(), self.layout)

    def source_size(self, uri: str) -> int:
        """The source's size from ``stat`` or ``HEAD``, without reading it (limits come first)."""
        try:
            if uri.startswith("s3://"):
                bucket, _, key = uri.removeprefix("s3://").partition("/")
                return int(self._s3_client().head_object(Bucket=bucket, Key=key)["ContentLength"])
            return Path(uri).stat().st_size
        except FileNotFoundError:
            raise SourceUnavailable(f"the source {uri} no longer exists") from None
        except Exception as exc:
            if type(exc).__name__ in ("ClientError", "NoSuchKey", "EndpointConnectionError"):
                name = "NoSuchKey" if is_missing_object(exc) else type(exc).__name__
                raise SourceUnavailable(f"the source {uri} cannot be read ({name})") from None
            raise

    def read_source(self, uri: str) -> bytes:
        """Bytes of a registered source: a local path or an ``s3://bucket/key`` URI."""
        try:
            if uri.startswith("s3://"):
                bucket, _, key = uri.removeprefix("s3://").partition("/")
                return read_s3_object(self._s3_client(), bucket, key)
            return Path(uri).read_bytes()
        except FileNotFoundError:
            raise SourceUnavailable(f"the source {uri} no longer exists") from None
        except Exception as exc:
            if type(exc).__name__ in ("ClientError", "NoSuchKey", "EndpointConnectionError"):
                raise SourceUnavailable(f"the source {uri} cannot be read ({type(exc).__name__})") from None
            raise
