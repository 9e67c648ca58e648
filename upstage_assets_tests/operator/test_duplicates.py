"""Issue 22, defect 1: duplicate bytes: explicit schema outranks the default, two explicit schemas get both."""

from __future__ import annotations

import json

import httpx
import pytest

from upstage_assets.ingest.folder import register_objects
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.registry import DocumentRegistry
from upstage_assets.storage.tables import read_table
from upstage_assets_tests.emulator.conftest import make_pdf


def _register(root, registry):
    source = LocalObjectStore(root)
    return register_objects(source, registry, sorted(source.list(), key=lambda i: i.key), default_schema="invoice")


@pytest.mark.parametrize("first", ["a_dup", "zz_dup"])
def test_an_explicit_schema_outranks_the_default_whatever_the_key_order(tmp_path, first):
    inbox = tmp_path / "inbox"
    data = make_pdf(1, lines=("RECEIPT", "Total: 3.00"))
    for folder in (first, "receipt"):
        (inbox / folder).mkdir(parents=True)
        (inbox / folder / "x.pdf").write_bytes(data)
    registry = DocumentRegistry(LocalObjectStore(tmp_path / "outputs"))
    result = _register(inbox, registry)
    (record,) = [registry.get(i) for i in registry.document_ids()]
    assert len(result.new_records) == 1 and len(result.duplicates) == 1
    assert record.schema == "receipt" and record.all_schemas() == ["receipt"] and record.schema_explicit
    assert record.source_uri.endswith("receipt/x.pdf")
    assert sorted(record.all_sources()) == sorted(str(inbox / f / "x.pdf") for f in (first, "receipt"))


def test_a_later_default_copy_changes_nothing_but_its_uri_is_kept(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "receipt").mkdir(parents=True)
    data = make_pdf(1)
    (inbox / "receipt" / "x.pdf").write_bytes(data)
    registry = DocumentRegistry(LocalObjectStore(tmp_path / "outputs"))
    _register(inbox, registry)
    (inbox / "other").mkdir()
    (inbox / "other" / "x.pdf").write_bytes(data)
    _register(inbox, registry)
    (record,) = [registry.get(i) for i in registry.document_ids()]
    assert record.all_schemas() == ["receipt"] and len(record.all_sources()) == 2


@pytest.mark.slow
def test_two_explicit_schemas_one_parse_one_classification_and_the_other_kind_quarantined(operator):
    """An invoice filed under invoice/ and receipt/: parsed once, classified once, extracted for
    invoice; for receipt it is quarantined as wrong_document_type without paying an extraction."""
    incoming = operator.data_root / "incoming"
    data = make_pdf(1, lines=("INVOICE", "Invoice No: INV-7", "Total: 42.50"))
    for schema in ("invoice", "receipt"):
        (incoming / schema).mkdir(parents=True)
        (incoming / schema / "same.pdf").write_bytes(data)
    httpx.post(f"{operator.emulator.url}/__emulator__/stats/reset")
    code, outcome, err = operator.cli_json("ingest", str(incoming), "--wait", "--no-progress")
    assert outcome["registered"] == 1 and outcome["done"] == 1 and not outcome["failed"], err
    stats = httpx.get(f"{operator.emulator.url}/__emulator__/stats").json()["requests_by_endpoint"]
    assert stats.get("document-parse") == 1, stats
    assert stats.get("document-classification") == 1, stats
    assert stats.get("information-extraction") == 1, stats
    outputs = operator.data_root / "outputs"
    (document_id,) = [p.stem for p in (outputs / "registry").glob("*.json")]
    record = json.loads((outputs / "registry" / f"{document_id}.json").read_text())
    assert record["schemas"] == ["invoice", "receipt"] and len(record["sources"]) == 2
    store = LocalObjectStore(outputs)
    for schema in ("invoice", "receipt"):
        rows = sum(read_table(store, area, schema, documents=[document_id]).num_rows
                   for area in ("tables", "quarantine") if (outputs / area / schema).is_dir())
        assert rows == 1, schema
    (receipt_row,) = read_table(store, "quarantine", "receipt", documents=[document_id]).to_pylist()
    assert receipt_row["reasons"][0].startswith("wrong_document_type:"), receipt_row["reasons"]
    assert receipt_row["document_class"] == "invoice"
    code, status, _ = operator.cli_json("status")
    assert status["pages_billed"] == {"parse": 1, "classification": 1, "extraction": 1}
