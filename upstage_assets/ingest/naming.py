"""The naming and skip rules of registration, in one leaf module.

Which listed objects are documents, what id the bytes get (the partition key), which
schema a key implies and what id a failure gets before there are bytes to hash. The folder
scan, the S3 scan, manifests, the CLI and the pipeline's raw stage all use these rules, so
every path into the platform names and skips the same way.

Ids are short hex prefixes of the SHA-256 of the bytes, never the source path: the same
bytes arriving by two paths are one document, and ids never contain the characters
(``,`` ``[`` ``]`` ``|``) that break Dagster's partition-range syntax.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable

from upstage_assets.inspection import SUPPORTED_EXTENSIONS
from upstage_assets.schemas.extraction import AUTO_SCHEMA, BUILTIN_SCHEMAS

#: Folder names that pick a schema: the built-in ones, and ``auto/`` (routed by class).
FOLDER_SCHEMAS = (*BUILTIN_SCHEMAS, AUTO_SCHEMA)

REGISTRATION_STAGE = "inbox"  # the failures-table stage of sources refused before they have an id
DOCUMENT_ID_HEX_CHARS = 16  # 64 bits: a collision needs ~4 billion documents


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def document_id_for_sha256(sha256: str) -> str:
    return sha256[:DOCUMENT_ID_HEX_CHARS]


def document_id_for_bytes(data: bytes) -> str:
    return document_id_for_sha256(sha256_hex(data))


def failure_id_for_source(uri: str) -> str:
    """A stable id for a failure that has no content hash (zero-byte object): from the URI."""
    return "src-" + sha256_hex(uri.encode())[:16]


def schema_for_key(key: str, default_schema: str, schema_names: Iterable[str] = FOLDER_SCHEMAS) -> str:
    """``inbox/receipt/x.jpg`` is a receipt: a first folder named after a schema picks the schema."""
    return explicit_schema_for_key(key, schema_names) or default_schema


def explicit_schema_for_key(key: str, schema_names: Iterable[str] = FOLDER_SCHEMAS) -> str | None:
    """The schema a first folder names (it outranks the default), or None."""
    first = key.split("/", 1)[0] if "/" in key else ""
    return first if first in set(schema_names) else None


def skip_reason(key: str, suffixes: tuple[str, ...] = SUPPORTED_EXTENSIONS) -> str | None:
    """None when the object at ``key`` (relative to the inbox) is a document, else why it is skipped."""
    name = posixpath.basename(key)
    if key.endswith("/") or not name:
        return "folder marker"
    if name.startswith("."):
        return "hidden file"
    if not name.lower().endswith(tuple(s.lower() for s in suffixes)):
        return "suffix not in the configured document types"
    return None
