"""Where a result table lives as a Delta Lake table, and how delta-rs reaches it.

``tables/<schema>/`` and ``quarantine/<schema>/`` under the output root are Delta tables
(a ``_delta_log/`` of atomic commits beside the Parquet data files). A local root is a
folder path; an S3 root is an ``s3://`` URI plus delta-rs storage options built from the
same S3 settings as the rest of the store. On S3, commits use conditional PUT
(``If-None-Match``: two writers cannot both create log entry N), so concurrent runs need no
lock table: the loser of a race gets ``CommitFailedError`` and retries on the new version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore, ObjectStore, S3ObjectStore

DELTA_LOG = "_delta_log"
# delta-rs names its data files part-<5 digits>-<uuid>-c<3 digits>[.<codec>].parquet; the old
# compaction's parts (part-<stamp>-<hex>-<n>.parquet) and the old per-document files do not match.
DELTA_DATA_FILE = re.compile(r"part-\d{5}-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}-c\d{3}(\.[a-z0-9]+)?\.parquet")


@dataclass(frozen=True)
class TableLocation:
    """One Delta table: its URI and the storage options delta-rs needs to open it."""

    uri: str
    storage_options: dict[str, str] = field(default_factory=dict)

    def exists(self) -> bool:
        """Opening it, not ``DeltaTable.is_deltatable``: against moto's S3 server, delta-rs 1.6.6's
        listing in that call only returns after the client's request timeout (seen here, 10-180 s)."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            DeltaTable(self.uri, storage_options=self.storage_options or None)
        except TableNotFoundError:
            return False
        return True


def s3_storage_options(client: object) -> dict[str, str]:
    """delta-rs options for the boto3 client's endpoint and region (credentials: see below).

    Credentials come from the environment's usual chain on the delta-rs side too (environment
    variables, web identity, ECS task role, instance metadata), so none are copied here;
    ``conditional_put=etag`` asks for S3's conditional writes on commits.
    """
    meta = getattr(client, "meta", None)
    options = {"conditional_put": "etag"}
    region = getattr(meta, "region_name", None)
    if region:
        options["AWS_REGION"] = str(region)
    endpoint = getattr(meta, "endpoint_url", None)
    if endpoint and not str(endpoint).rstrip("/").endswith("amazonaws.com"):
        options["AWS_ENDPOINT_URL"] = str(endpoint)
        if str(endpoint).startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    credentials = _frozen_credentials()
    if credentials is not None:
        options["AWS_ACCESS_KEY_ID"], options["AWS_SECRET_ACCESS_KEY"] = credentials[0], credentials[1]
        if credentials[2]:
            options["AWS_SESSION_TOKEN"] = credentials[2]
    return options


def _frozen_credentials() -> tuple[str, str, str | None] | None:
    """Keys from a shared credentials or config file (a profile), which delta-rs does not read;
    ``None`` for every other source (environment, web identity, task role, instance metadata),
    which delta-rs resolves and refreshes itself. Never logged."""
    import boto3

    found = boto3.session.Session().get_credentials()
    if found is None or getattr(found, "method", "") not in ("shared-credentials-file", "config-file"):
        return None
    frozen = found.get_frozen_credentials()
    return frozen.access_key, frozen.secret_key, frozen.token


def table_location(store: ObjectStore, area: str, schema: str) -> TableLocation:
    """The Delta table of one schema under ``area`` (``tables`` or ``quarantine``) of the store;
    a schema name that is not one plain path segment is refused (``UnsafeDocumentKey``)."""
    schema = OutputLayout.document_segment(schema)
    if isinstance(store, LocalObjectStore):
        return TableLocation(str(Path(store.root) / area / schema))
    if isinstance(store, S3ObjectStore):
        return TableLocation(store.uri(f"{area}/{schema}"), s3_storage_options(store.client))
    raise TypeError(f"no Delta location for a {type(store).__name__}")


def table_names(store: ObjectStore, area: str) -> list[str]:
    """Schemas with a Delta table under ``area``: folders holding a ``_delta_log/``."""
    return sorted(name for name in store.folders(area)
                  if next(iter(store.list(f"{area}/{name}/{DELTA_LOG}")), None) is not None)


def legacy_files(store: ObjectStore, area: str, schema: str) -> list[str]:
    """Parquet files written the old way (one per document, ``part-*`` from the old compaction):
    the folder's top-level ``*.parquet`` keys that are not Delta data files."""
    prefix = f"{area}/{schema}/"
    return [info.key for info in store.list(prefix.rstrip("/"))
            if "/" not in info.key[len(prefix):] and info.key.endswith(".parquet")
            and not DELTA_DATA_FILE.fullmatch(info.key[len(prefix):])]
