"""The one partitioning scheme: a dynamic partition per document, keyed by content hash.

Keys are document ids (``ingest/naming.py``): short hex prefixes of the SHA-256 of the
bytes, so the same bytes arriving by two paths are one partition.
"""

from __future__ import annotations

from dagster import DynamicPartitionsDefinition

DOCUMENTS_PARTITIONS_NAME = "documents"
documents_partitions = DynamicPartitionsDefinition(name=DOCUMENTS_PARTITIONS_NAME)
