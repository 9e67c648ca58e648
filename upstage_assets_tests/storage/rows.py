"""Real validated/quarantined one-row Parquet files, built with the project's own validation."""

import io
from datetime import datetime

import pyarrow.parquet as pq

from upstage_assets.schemas.extraction import load_schema
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.validation import Lineage, validate_fields

LAYOUT = OutputLayout()
SCHEMA = load_schema("invoice")


def row_bytes(document_id: str, amount: float, when: datetime, quarantine: bool = False) -> tuple[str, bytes]:
    """(key, Parquet bytes) of one invoice row; quarantined rows lack the required issuer."""
    fields = {"issuer": {"value": None if quarantine else f"Issuer {document_id}", "confidence": 0.9},
              "invoice_number": {"value": f"INV-{document_id[-4:]}", "confidence": 0.95},
              "date": {"value": "2024-05-01", "confidence": 0.7},
              "amount": {"value": amount, "confidence": 0.8}}
    outcome = validate_fields(fields, SCHEMA, Lineage(document_id, f"/src/{document_id}.pdf", "0" * 64, "local",
                                                      "m", 1, processed_at=when))
    assert outcome.quarantined == quarantine, outcome.reasons
    buffer = io.BytesIO()
    pq.write_table(outcome.table, buffer)
    key = (LAYOUT.quarantine_key if quarantine else LAYOUT.table_key)(SCHEMA.name, document_id)
    return key, buffer.getvalue()
