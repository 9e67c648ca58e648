"""What the S3 inbox sensor remembers between ticks, and where it keeps it.

Two parts, because they change at different rates and have different sizes:

* the **cursor** (Dagster's sensor cursor, a few hundred bytes): where the current listing
  pass resumes (``after``, an S3 ``StartAfter`` key), when that pass began, the
  LastModified **watermark** and which checkpoint generation holds the rest;
* the **checkpoint** (a gzip JSON object under ``state/s3_inbox/<scope>/<generation>.json.gz``
  in the output store): ``seen`` (key -> ETag, size, LastModified) so an unchanged object is
  never read again, and ``etags`` (plain-MD5 ETag + size -> document id) so a copy of known
  bytes under a new key costs no GET.

Both maps only keep objects modified after ``watermark - lookback``: once a full pass that
began at time T has finished, every object whose LastModified is older than T (minus a
lookback for clock skew and for multipart uploads, whose LastModified is the upload's
*start*) was listed, so it needs no entry. Memory follows recent activity, not bucket size.

Checkpoints are written under a new generation and the cursor names it; if Dagster does not
persist a tick's cursor, the next tick reads the previous generation and redoes that work,
which the content-hash dedup makes harmless.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field

from upstage_assets.storage.object_store import ObjectStore

CHECKPOINT_PREFIX = "state/s3_inbox"


def scope_for(inbox_uri: str) -> str:
    """A short stable name per watched inbox: pointing the sensor elsewhere starts afresh."""
    return hashlib.sha256(inbox_uri.encode()).hexdigest()[:12]


@dataclass
class ScanCursor:
    scope: str = ""
    generation: int = 0  # 0: no checkpoint yet
    after: str = ""  # resume the current pass after this bucket key ("" = from the start)
    pass_started_at: float = 0.0  # epoch seconds, local clock
    watermark: float = 0.0  # objects modified before watermark - lookback were all listed
    passes: int = 0  # completed listing passes

    def to_json(self) -> str:
        return json.dumps({"scope": self.scope, "generation": self.generation, "after": self.after,
                           "pass_started_at": self.pass_started_at, "watermark": self.watermark,
                           "passes": self.passes}, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str | None, scope: str) -> ScanCursor:
        """The cursor for ``scope``; a missing, unreadable or other-scope cursor starts afresh."""
        if not text:
            return cls(scope=scope)
        try:
            raw = json.loads(text)
            cursor = cls(scope=str(raw["scope"]), generation=int(raw["generation"]), after=str(raw["after"]),
                         pass_started_at=float(raw["pass_started_at"]), watermark=float(raw["watermark"]),
                         passes=int(raw["passes"]))
        except (ValueError, KeyError, TypeError):
            return cls(scope=scope)
        return cursor if cursor.scope == scope else cls(scope=scope)


@dataclass
class SeenObject:
    etag: str
    size: int
    last_modified: float


@dataclass
class ScanCheckpoint:
    seen: dict[str, SeenObject] = field(default_factory=dict)  # bucket key -> what was looked at
    etags: dict[str, tuple[str, float]] = field(default_factory=dict)  # "etag:size" -> (document id, mtime)
    dirty: bool = False

    def prune(self, older_than: float) -> int:
        """Forget objects modified before ``older_than``; return how many entries went."""
        before = len(self.seen) + len(self.etags)
        self.seen = {k: v for k, v in self.seen.items() if v.last_modified >= older_than}
        self.etags = {k: v for k, v in self.etags.items() if v[1] >= older_than}
        removed = before - len(self.seen) - len(self.etags)
        self.dirty = self.dirty or removed > 0
        return removed

    def to_bytes(self) -> bytes:
        payload = {"seen": {k: [v.etag, v.size, v.last_modified] for k, v in self.seen.items()},
                   "etags": {k: [doc, mtime] for k, (doc, mtime) in self.etags.items()}}
        return gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=5)

    @classmethod
    def from_bytes(cls, data: bytes) -> ScanCheckpoint:
        payload = json.loads(gzip.decompress(data))
        return cls(seen={k: SeenObject(str(e), int(s), float(m)) for k, (e, s, m) in payload["seen"].items()},
                   etags={k: (str(d), float(m)) for k, (d, m) in payload["etags"].items()})


def checkpoint_key(scope: str, generation: int) -> str:
    return f"{CHECKPOINT_PREFIX}/{scope}/{generation:012d}.json.gz"


def load_checkpoint(store: ObjectStore, cursor: ScanCursor) -> ScanCheckpoint:
    """The checkpoint the cursor names; a lost one means every object is looked at again (safe)."""
    if cursor.generation == 0:
        return ScanCheckpoint()
    key = checkpoint_key(cursor.scope, cursor.generation)
    if not store.exists(key):
        return ScanCheckpoint(dirty=True)
    return ScanCheckpoint.from_bytes(store.read_bytes(key))


def save_checkpoint(store: ObjectStore, cursor: ScanCursor, checkpoint: ScanCheckpoint) -> ScanCursor:
    """Write a new generation when something changed; drop generations older than the one read."""
    if not checkpoint.dirty:
        return cursor
    generation = cursor.generation + 1
    store.write_bytes(checkpoint_key(cursor.scope, generation), checkpoint.to_bytes())
    checkpoint.dirty = False
    # Keep the generation this tick started from: if its cursor is not persisted, the next
    # tick starts from there again.
    for info in list(store.list(f"{CHECKPOINT_PREFIX}/{cursor.scope}")):
        name = info.key.rsplit("/", 1)[-1].split(".", 1)[0]
        if name.isdigit() and int(name) < cursor.generation:
            store.delete(info.key)
    return ScanCursor(scope=cursor.scope, generation=generation, after=cursor.after,
                      pass_started_at=cursor.pass_started_at, watermark=cursor.watermark, passes=cursor.passes)
