"""One compaction of a Delta table at a time, across processes and hosts.

Two ``optimize`` runs over the same files must never both commit. delta-rs (1.6.6) lets them: an
optimize removes the files it rewrote with ``dataChange=false``, and its conflict checker lets a
commit through when a concurrent commit removed the same files that way. Both compacted copies of
the rows then stay in the table (two compactions of one four-file table, each holding the same
snapshot: eight rows where there were four; ``storage/test_compaction_lease.py``). A commit that
rewrites files (a MERGE, ``dataChange=true``) is still refused correctly against a compaction, in
either order, so only compactions need to take turns: every compaction holds this lease.

- A local folder: an exclusive ``flock`` on ``_leases/<area>/<schema>.lock`` under the store root.
  The kernel drops it when the holder exits, however it exits.
- S3: an object ``_leases/<area>/<schema>.json`` created with ``If-None-Match: *`` (S3's atomic
  create). It names its holder and when it expires; a holder that died leaves it behind, so an
  expired lease is taken over with ``If-Match`` on its ETag (two takers: one wins). ``ttl_s``
  must outlast the longest compaction.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from upstage_assets.storage.object_store import LocalObjectStore, ObjectStore, S3ObjectStore, s3_error_code

LEASES = "_leases"
DEFAULT_TTL_S = 6 * 3600  # the weekly compaction of a large table takes minutes; a crash frees it after this
PRECONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
Release = Callable[[], None]


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a table's compaction lease (as far as the store can say)."""

    holder: str
    expires_at: float | None = None

    def describe(self) -> str:
        if self.expires_at is None:
            return self.holder
        return f"{self.holder} (until {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(self.expires_at))})"


class CompactionBusy(RuntimeError):
    """Another process is compacting this table; it is left to that one."""


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def compaction_lease(store: ObjectStore, area: str, schema: str, *, ttl_s: float = DEFAULT_TTL_S,
                     wait_s: float = 0.0, poll_s: float = 1.0) -> Iterator[None]:
    """Hold the table's compaction lease for the block; waits up to ``wait_s`` for it, then raises
    ``CompactionBusy`` naming the holder."""
    deadline = time.monotonic() + wait_s
    while True:
        release = _acquire(store, f"{LEASES}/{area}/{schema}", ttl_s)
        if not isinstance(release, LeaseHolder):
            break
        if time.monotonic() >= deadline:
            raise CompactionBusy(f"{area}/{schema} is being compacted by {release.describe()}")
        time.sleep(poll_s)
    try:
        yield
    finally:
        release()


def _acquire(store: ObjectStore, key: str, ttl_s: float) -> Release | LeaseHolder:
    """A function that releases the lease, or the ``LeaseHolder`` that has it."""
    if isinstance(store, LocalObjectStore):
        return _acquire_flock(store, key)
    if isinstance(store, S3ObjectStore):
        return _acquire_s3(store, key, ttl_s)
    raise TypeError(f"no compaction lease for {type(store).__name__}")


def _acquire_flock(store: LocalObjectStore, key: str) -> Release | LeaseHolder:
    import fcntl

    path = store._path(f"{key}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        return LeaseHolder(holder)
    os.ftruncate(fd, 0)
    os.pwrite(fd, this_process().encode(), 0)

    def release() -> None:
        os.ftruncate(fd, 0)
        os.close(fd)  # closing drops the flock; the file stays (removing it would race the next taker)

    return release


def _acquire_s3(store: S3ObjectStore, key: str, ttl_s: float) -> Release | LeaseHolder:
    from botocore.exceptions import ClientError

    full = store._key(f"{key}.json")
    me = f"{this_process()}:{uuid.uuid4().hex[:8]}"
    body = json.dumps({"holder": me, "expires_at": time.time() + ttl_s}).encode()
    try:
        store.client.put_object(Bucket=store.bucket, Key=full, Body=body, IfNoneMatch="*")
    except ClientError as exc:
        if s3_error_code(exc) not in PRECONDITION_CODES:
            raise
        holder = _take_over_if_expired(store, full, body)
        if holder is not None:
            return holder

    def release() -> None:
        try:  # only our own lease: one that expired and was taken over belongs to its new holder
            current = store.client.get_object(Bucket=store.bucket, Key=full)
            if json.loads(current["Body"].read()).get("holder") == me:
                store.client.delete_object(Bucket=store.bucket, Key=full)
        except ClientError:
            pass  # gone already, or unreadable: it expires by itself

    return release


def _take_over_if_expired(store: S3ObjectStore, full: str, body: bytes) -> LeaseHolder | None:
    """None once this process has replaced an expired lease; the ``LeaseHolder`` of a live one."""
    from botocore.exceptions import ClientError

    try:
        current = store.client.get_object(Bucket=store.bucket, Key=full)
    except ClientError:
        return LeaseHolder("another process")  # released (or replaced) just now: try again later
    try:
        held = json.loads(current["Body"].read())
        holder = LeaseHolder(str(held["holder"]), float(held["expires_at"]))
    except (ValueError, KeyError, TypeError):
        holder = LeaseHolder("an unreadable lease", 0.0)  # treated as expired
    if holder.expires_at and holder.expires_at > time.time():
        return holder
    try:
        store.client.put_object(Bucket=store.bucket, Key=full, Body=body, IfMatch=current["ETag"])
        return None
    except ClientError as exc:
        if s3_error_code(exc) in PRECONDITION_CODES:
            return LeaseHolder("another process")  # someone else took it over first
        raise

