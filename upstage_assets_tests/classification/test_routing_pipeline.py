"""Routing by document type through real Dagster runs, with the Upstage backend against the emulator.

The inbox holds an invoice, a receipt and a prose report, text-layer PDFs made by the project's
generators. Under ``auto/`` each goes to the table of its class, the report to quarantine as
``unclassified``; under ``invoice/`` the receipt and the report are quarantined as
``wrong_document_type`` and never sent to extraction. Class and confidence are columns of every
row and metadata of the materializations. Real HTTP on loopback, real SQLite Dagster instance.
"""

from __future__ import annotations

import shutil

import httpx
import pytest
from dagster import AssetKey

from upstage_assets.definitions import build_definitions
from upstage_assets.ingest.naming import document_id_for_bytes
from upstage_assets.operations.reporting import read_tables
from upstage_assets.operations.runner import process_inbox_once
from upstage_assets.settings import Settings

from .documents import kind_pdfs


@pytest.fixture
def emulator(monkeypatch):
    from upstage_assets.emulator.server import run_emulator_in_thread
    from upstage_assets.emulator.settings import EmulatorSettings

    handle = run_emulator_in_thread(EmulatorSettings())
    monkeypatch.setenv("UPSTAGE_API_BASE_URL", handle.url)
    monkeypatch.setenv("UPSTAGE_API_KEY", "up_test_key")
    monkeypatch.setenv("UPSTAGE_ASSETS_BACKEND", "emulator")
    yield handle
    handle.stop()


def _run(folder, data_root, dagster_instance, tmp_path):
    kinds = kind_pdfs(tmp_path / "kinds")
    ids = {}
    for kind, paths in kinds.items():
        for path in paths:
            target = data_root / "inbox" / folder / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            ids[document_id_for_bytes(path.read_bytes())] = kind
    report = process_inbox_once(None, instance=dagster_instance,
                                defs=build_definitions(Settings.from_env(backend="emulator")))
    assert report.runs and all(ok for _, ok in report.runs), report.runs
    rows = {area: {r["document_id"]: (name, r) for name, table in read_tables(data_root / "outputs", area).items()
                   for r in table.to_pylist()} for area in ("tables", "quarantine")}
    return ids, rows


@pytest.mark.slow
def test_auto_routes_each_document_to_the_schema_of_its_class(emulator, data_root, dagster_instance, tmp_path):
    ids, rows = _run("auto", data_root, dagster_instance, tmp_path)
    for document_id, kind in ids.items():
        if kind == "others":
            table, row = rows["quarantine"][document_id]
            assert table == "unclassified" and row["document_class"] == "others"
            assert row["reasons"][0].startswith("unclassified:")
        else:
            table, row = rows["tables"][document_id]
            assert table == kind and row["schema_name"] == kind and row["document_class"] == kind
            assert document_id not in rows["quarantine"]
        assert row["class_confidence"] is None  # the API answers a label, no confidence
    records = dagster_instance.fetch_materializations(AssetKey("kie_fields"), limit=1000).records
    shown = {r.asset_materialization.partition: r.asset_materialization.metadata for r in records}
    for document_id, kind in ids.items():  # the class is in the UI's metadata of each document
        assert shown[document_id]["document_class"].value == kind


@pytest.mark.slow
def test_a_fixed_schema_quarantines_other_kinds_without_extracting_them(emulator, data_root, dagster_instance,
                                                                       tmp_path):
    ids, rows = _run("invoice", data_root, dagster_instance, tmp_path)
    for document_id, kind in ids.items():
        if kind == "invoice":
            table, row = rows["tables"][document_id]
            assert table == "invoice" and row["document_class"] == "invoice"
        else:
            table, row = rows["quarantine"][document_id]
            assert table == "invoice" and row["document_class"] == kind
            assert row["reasons"][0].startswith("wrong_document_type:"), row["reasons"]
            assert row["fields_json"] == "{}"
    stats = httpx.get(f"{emulator.url}/__emulator__/stats").json()["requests_by_route"]
    assert stats["/v1/document-classification"] == len(ids)
    assert stats["/v1/information-extraction"] == 1  # only the invoice was extracted (and billed)
