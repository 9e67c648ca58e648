"""Where each kind of result lives under the output root (local folder or S3 prefix).

    registry/<id>.json          what was registered: source URI, sha256, size, schema
    raw/<id>.json               fingerprint + detected type + page count (raw_documents)
    parsed/<id>.json            Document Parse response (parsed_layouts)
    kie/<id>.json               extracted fields (kie_fields), with the document's primary schema
    kie_more/<schema>/<id>.json extracted fields with each further schema the same bytes were sent under
    tables/<schema>/            Delta table: one typed row per document (validated_documents)
    quarantine/<schema>/        Delta table: rows that failed validation, with the reasons
    failures/<id>.parquet       the latest error per document (the document_failures table)
    usage/<product>/<id>.json   pages billed and estimated cost per product (parse, classification, extraction)
    changes/<key>.changed       empty marker: <key> (a registry, raw or usage file) changed since the
                                last summary compaction (``storage/summaries.py``)
    summaries/<name>/           derived: those files folded into one Parquet part and running totals

One file per document keeps every JSON write atomic and independent, so a crash never leaves
a shared file half-written; the two tables get the same guarantee from Delta's atomic commits
(``storage/table_writer.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from upstage_assets.errors import UnsafeDocumentKey

#: A change marker's name ends with this, never with the summarised file's own suffix: an empty
#: ``.json`` object would read as a broken JSON file to anything that crawls the outputs.
MARKER_SUFFIX = ".changed"


def _segment(name: str) -> str:
    """A document id or schema name must be one plain path segment: ``../registry/<id>`` would
    otherwise normalise to another document's files, inside the root but not its own."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise UnsafeDocumentKey(f"unsafe document key {name!r}: not a single path segment")
    return name


@dataclass(frozen=True)
class OutputLayout:
    registry: str = "registry"
    raw: str = "raw"
    parsed: str = "parsed"
    kie: str = "kie"
    kie_more: str = "kie_more"
    tables: str = "tables"
    quarantine: str = "quarantine"
    failures: str = "failures"
    usage: str = "usage"
    changes: str = "changes"
    summaries: str = "summaries"

    @staticmethod
    def document_segment(name: str) -> str:
        """``name`` if it is one plain path segment, else ``UnsafeDocumentKey``."""
        return _segment(name)

    def registry_key(self, document_id: str) -> str:
        return f"{self.registry}/{_segment(document_id)}.json"

    def raw_key(self, document_id: str) -> str:
        return f"{self.raw}/{_segment(document_id)}.json"

    def parsed_key(self, document_id: str) -> str:
        return f"{self.parsed}/{_segment(document_id)}.json"

    def kie_key(self, document_id: str, extra_schema: str | None = None) -> str:
        """The primary schema's fields, or (``extra_schema``) another schema's for the same bytes."""
        if extra_schema is not None:
            return f"{self.kie_more}/{_segment(extra_schema)}/{_segment(document_id)}.json"
        return f"{self.kie}/{_segment(document_id)}.json"

    def usage_key(self, product: str, document_id: str) -> str:
        return f"{self.usage}/{_segment(product)}/{_segment(document_id)}.json"

    def change_marker_key(self, key: str) -> str:
        """The marker saying ``key`` changed since the last summary compaction."""
        return f"{self.changes}/{key}{MARKER_SUFFIX}"

    def failure_key(self, document_id: str) -> str:
        return f"{self.failures}/{_segment(document_id)}.parquet"
