"""Real validated/quarantined rows, built with the project's own validation: as pipeline rows
(``TableRow``, committed to Delta) and as one-row Parquet files the old layout wrote."""

import io
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq

from upstage_assets.schemas.extraction import load_schema
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.table_writer import TableRow
from upstage_assets.validation import Lineage, validate_fields

LAYOUT = OutputLayout()
SCHEMA = load_schema("invoice")


def row_table(document_id: str, amount: float | str, when: datetime, quarantine: bool = False) -> pa.Table:
    """One invoice row; quarantined rows lack the required issuer."""
    fields = {"issuer": {"value": None if quarantine else f"Issuer {document_id}", "confidence": 0.9},
              "invoice_number": {"value": f"INV-{document_id[-4:]}", "confidence": 0.95},
              "date": {"value": "2024-05-01", "confidence": 0.7},
              "amount": {"value": amount, "confidence": 0.8}}
    outcome = validate_fields(fields, SCHEMA, Lineage(document_id, f"/src/{document_id}.pdf", "0" * 64, "local",
                                                      "m", 1, processed_at=when))
    assert outcome.quarantined == quarantine, outcome.reasons
    return outcome.table


def table_row(document_id: str, amount: float | str, when: datetime, quarantine: bool = False) -> TableRow:
    return TableRow(document_id, SCHEMA.name, row_table(document_id, amount, when, quarantine), quarantine)


def old_file_key(document_id: str, quarantine: bool = False) -> str:
    area = LAYOUT.quarantine if quarantine else LAYOUT.tables
    return f"{area}/{SCHEMA.name}/{document_id}.parquet"


def row_bytes(document_id: str, amount: float, when: datetime, quarantine: bool = False,
              float_amounts: bool = True) -> tuple[str, bytes]:
    """(key, Parquet bytes) of one row the way the old layout stored it (amounts as float64)."""
    table = row_table(document_id, amount, when, quarantine)
    if float_amounts and "amount" in table.column_names:
        index = table.column_names.index("amount")
        table = table.set_column(index, pa.field("amount", pa.float64()), table.column("amount").cast(pa.float64()))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return old_file_key(document_id, quarantine), buffer.getvalue()
