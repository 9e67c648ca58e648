"""The one partitioning scheme: a dynamic partition per document, keyed by content hash.

Keys are short hex ids derived from the SHA-256 of the bytes, never the source path: the
same bytes arriving by two paths are one document, and keys never contain the characters
(``,`` ``[`` ``]`` ``|``) that break Dagster's partition-range syntax.
"""

from __future__ import annotations

import hashlib

from dagster import DynamicPartitionsDefinition

DOCUMENTS_PARTITIONS_NAME = "documents"
documents_partitions = DynamicPartitionsDefinition(name=DOCUMENTS_PARTITIONS_NAME)

DOCUMENT_ID_HEX_CHARS = 16  # 64 bits: a collision needs ~4 billion documents


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def document_id_for_sha256(sha256: str) -> str:
    return sha256[:DOCUMENT_ID_HEX_CHARS]


def document_id_for_bytes(data: bytes) -> str:
    return document_id_for_sha256(sha256_hex(data))
