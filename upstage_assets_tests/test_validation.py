"""Extracted fields become typed rows; bad values go to quarantine with every reason."""

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from upstage_assets.schemas.arrow import table_schema_for
from upstage_assets.schemas.extraction import load_schema
from upstage_assets.validation import Lineage, validate_fields


def lineage():
    return Lineage(document_id="abc", source_uri="/in/a.pdf", sha256="f" * 64, backend="local",
                   model="m", pages_billed=1, source_metadata={"batch": "7"})


def field(value, confidence=0.9):
    return {"value": value, "confidence": confidence, "page": 1, "coordinates": None}


def test_invoice_schema_maps_to_typed_arrow_columns():
    schema = table_schema_for(load_schema("invoice"))
    assert schema.field("date").type == pa.date32()
    assert schema.field("amount").type == pa.decimal128(18, 4), "money is a decimal"
    item = schema.field("line_items").type.value_type
    assert item.field("unit_price").type == pa.decimal128(18, 4) and item.field("quantity").type == pa.float64()
    assert schema.field("invoice_number").type == pa.string()
    line_items = schema.field("line_items").type
    assert pa.types.is_list(line_items) and pa.types.is_struct(line_items.value_type)
    for lineage_column in ("document_id", "sha256", "backend", "schema_version", "processed_at", "pages_billed"):
        assert lineage_column in schema.names


def test_valid_fields_become_one_typed_row():
    schema = load_schema("invoice")
    fields = {"issuer": field("ACME Corp"), "invoice_number": field("INV-7"), "date": field("2024-03-05"),
              "amount": field("$1,234.50"), "line_items": field([{"description": "Bolt", "quantity": "2",
                                                                  "unit_price": "1.5", "amount": "3"}])}
    outcome = validate_fields(fields, schema, lineage())
    assert not outcome.quarantined
    row = outcome.table.to_pylist()[0]
    assert row["amount"] == Decimal("1234.5000") and row["date"] == dt.date(2024, 3, 5)
    assert row["line_items"][0]["quantity"] == 2.0
    assert dict(row["source_metadata"]) == {"batch": "7"} and row["schema_version"] == schema.version


def test_missing_required_and_unreadable_values_are_quarantined_with_reasons():
    schema = load_schema("invoice")
    fields = {"issuer": field("ACME"), "date": field("not a date at all"), "amount": field("twelve")}
    outcome = validate_fields(fields, schema, lineage())
    assert outcome.quarantined
    reasons = " ".join(outcome.reasons)
    assert "invoice_number: required field missing" in reasons
    assert "date: cannot read" in reasons and "amount: cannot read" in reasons
    assert outcome.table.column("reasons").to_pylist()[0] == outcome.reasons


def test_amounts_are_exact_decimals_so_totals_do_not_drift():
    from upstage_assets.validation import coerce_money

    assert coerce_money("1.234,56 EUR") == Decimal("1234.5600")
    assert coerce_money(0.1) == Decimal("0.1000") and coerce_money(19.99) == Decimal("19.9900")
    assert coerce_money("0.00005") == Decimal("0.0000") and coerce_money("0.00015") == Decimal("0.0002")  # half-even
    assert sum([coerce_money("0.10")] * 3) == Decimal("0.3")  # float: 0.30000000000000004
    schema = load_schema("invoice")
    table = pa.concat_tables([validate_fields({"issuer": field("A"), "invoice_number": field(f"I{i}"),
                                               "date": field("2024-01-01"), "amount": field("0.10")},
                                              schema, lineage()).table for i in range(3)])
    assert pc.sum(table.column("amount")).as_py() == Decimal("0.3000")


def test_a_number_is_money_by_format_or_by_name():
    from upstage_assets.schemas.arrow import is_money_property

    assert is_money_property("weight", {"type": "number", "format": "money"})
    assert is_money_property("total_due", {"type": "number"}) and is_money_property("tax", {"type": "number"})
    assert not is_money_property("quantity", {"type": "number"})
    assert not is_money_property("amount", {"type": "string"}), "only numbers become decimals"
