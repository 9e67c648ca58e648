"""A tiny object-store interface with a local-folder and an S3 implementation.

Every write is atomic: local files are written to a temporary name and renamed into place,
S3 objects appear whole on PUT. Readers never see half an object. Relative keys are checked
so no document name can escape the configured root. A local disk that fills up mid-write
leaves nothing behind and raises ``StorageFull`` (retryable), never a bare ``OSError``.
"""

from __future__ import annotations

import errno
import os
import posixpath
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upstage_assets.errors import StorageFull

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
MAX_FOLDERS_KEPT = 10_000  # resolved folders a local store keeps (a key's folders are few: the layout's)


class UnsafeKeyError(ValueError):
    """A key would resolve outside the store's root (path traversal)."""


def safe_key(key: str) -> str:
    """Normalise a relative key; refuse absolute paths, ``..`` segments and backslashes."""
    if not key or key.startswith(("/", "\\")) or "\\" in key or "\x00" in key:
        raise UnsafeKeyError(f"unsafe object key {key!r}")
    normalised = posixpath.normpath(key)
    if normalised.startswith("..") or normalised == "." or "/../" in f"/{normalised}/":
        raise UnsafeKeyError(f"unsafe object key {key!r}")
    return normalised


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # relative to the store root
    size: int
    version: str  # mtime_ns locally, ETag on S3: changes when the bytes change
    modified: float = 0.0  # last write, seconds since the epoch, by the store's own clock


def s3_error_code(exc: BaseException) -> str:
    """The code of a boto3 ``ClientError`` (``""`` for any other exception)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def is_missing_object(exc: BaseException) -> bool:
    """An S3 error that says the object is not there (boto3's codes for it vary by call)."""
    return s3_error_code(exc) in ("404", "NoSuchKey", "NotFound")


class ObjectStore(ABC):
    """Bytes under a root; keys are relative POSIX paths."""

    root_uri: str

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> str:
        """Write atomically; return the object's full URI."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    def read_bytes_if_present(self, key: str) -> bytes | None:
        """The object's bytes, or ``None`` when there is no such object (any other error raises)."""
        try:
            return self.read_bytes(key)
        except FileNotFoundError:
            return None
        except Exception as exc:
            if is_missing_object(exc):
                return None
            raise

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under a prefix, in key order."""

    @abstractmethod
    def folders(self, prefix: str) -> Sequence[str]:
        """Names of the immediate sub-folders of ``prefix`` (a table area's tables)."""

    def uri(self, key: str) -> str:
        return f"{self.root_uri.rstrip('/')}/{safe_key(key)}"


class LocalObjectStore(ObjectStore):
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()
        self.root_uri = str(self.root)
        # folder key -> its resolved path, checked inside the root. Resolving every key walked each of
        # its folders (an lstat and Python's realpath loop): 4% of a run worker's CPU, for the same few
        # folders. A folder is resolved once; the last part of a key is still checked each time.
        self._folders: dict[str, Path] = {}

    def _path(self, key: str) -> Path:
        folder, _, name = safe_key(key).rpartition("/")
        directory = self._folders.get(folder)
        if directory is None:
            directory = self._inside((self.root / folder).resolve(), key)
            if len(self._folders) < MAX_FOLDERS_KEPT:
                self._folders[folder] = directory
        path = directory / name
        if path.is_symlink():  # where a link points is checked on every use, as it may change
            return self._inside(path.resolve(), key)
        return path

    def _inside(self, path: Path, key: str) -> Path:
        if self.root not in path.parents and path != self.root:
            raise UnsafeKeyError(f"key {key!r} resolves outside {self.root}")
        return path

    def write_bytes(self, key: str, data: bytes) -> str:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except OSError as exc:
            if exc.errno in NO_SPACE_ERRNOS:
                raise self._full(key, exc) from exc
            raise
        try:
            try:
                view = memoryview(data)
                while view:  # os.write may write part of the bytes (a filling disk does)
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
                raise self._full(key, exc) from exc
            raise
        return str(path)

    def _full(self, key: str, exc: OSError) -> StorageFull:
        return StorageFull(f"the output store {self.root} has no space left writing {key} "
                           f"({exc.strerror or errno.errorcode.get(exc.errno or 0, 'ENOSPC')}); nothing was "
                           "written. Free space, then run `upstage-assets retry-failed`")

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            candidates = [base]
        elif base.is_dir():
            candidates = sorted(p for p in base.rglob("*") if p.is_file())
        else:
            return
        for path in candidates:
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                continue  # an in-flight atomic write
            stat = path.stat()
            yield ObjectInfo(path.relative_to(self.root).as_posix(), stat.st_size, str(stat.st_mtime_ns),
                             stat.st_mtime)

    def folders(self, prefix: str) -> Sequence[str]:
        base = self._path(prefix)
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


BODY_READ_ATTEMPTS = 4  # botocore retries the request, not the reading of a streamed body


def read_s3_object(client: Any, bucket: str, key: str, attempts: int = BODY_READ_ATTEMPTS) -> bytes:
    """GET an object's whole body; a connection cut mid-body is retried with a fresh GET.

    botocore's retry config covers the request and its headers only: a body cut short raises
    ``ResponseStreamingError`` from ``read()``, after the call has "succeeded".
    """
    from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError

    for attempt in range(1, attempts + 1):
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (ResponseStreamingError, IncompleteReadError, ReadTimeoutError):
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


class S3ObjectStore(ObjectStore):
    """Objects under ``s3://bucket/prefix``; the boto3 client comes from dagster-aws's S3Resource."""

    def __init__(self, root_uri: str, client: Any):
        bucket, _, prefix = root_uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"not an s3:// URI: {root_uri!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.root_uri = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        key = safe_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def write_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.uri(key)

    def read_bytes(self, key: str) -> bytes:
        return read_s3_object(self.client, self.bucket, self._key(key))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if is_missing_object(exc):
                return False
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                modified = obj["LastModified"].timestamp() if obj.get("LastModified") else 0.0
                yield ObjectInfo(obj["Key"][len(strip):], int(obj["Size"]), obj.get("ETag", "").strip('"'), modified)

    def folders(self, prefix: str) -> Sequence[str]:
        full = f"{self._key(prefix)}/"
        names: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full,
                                                                          Delimiter="/"):
            names.extend(p["Prefix"][len(full):].rstrip("/") for p in page.get("CommonPrefixes", []))
        return sorted(names)


def open_store(root: str, s3_client_factory: Any = None) -> ObjectStore:
    """A local store for a path, an S3 store for ``s3://`` (client built lazily by the factory)."""
    if root.startswith("s3://"):
        if s3_client_factory is None:
            import boto3

            return S3ObjectStore(root, boto3.client("s3"))
        return S3ObjectStore(root, s3_client_factory())
    return LocalObjectStore(root)
