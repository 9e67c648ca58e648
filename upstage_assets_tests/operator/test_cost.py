"""Issue 22, defect 2: billed pages per product, each priced, the same in status, tags, metadata, alerts.

Three products: parse, classification (issue 17: every document is classified before extraction,
priced ``price_classify``) and extraction. Real emulator on loopback, the CLI in-process.
"""

from __future__ import annotations

from typing import Any

import pytest
from dagster import DagsterEventType

from upstage_assets.defs.alerts import summarize_run
from upstage_assets.defs.pipeline.keys import KIE_FIELDS, PARSED_LAYOUTS, VALIDATED_DOCUMENTS
from upstage_assets.defs.pipeline.progress import read_progress
from upstage_assets.storage.billing import PRODUCTS, billed_by_product

from .conftest import Operator, write_pdfs


def _the_run_agrees_with_status(operator: Operator, run_id: str, status: dict[str, Any]) -> None:
    """The run's tags, its materializations' metadata, its check's batch summary and the alert
    summary give the same pages per product and the same cost as ``status``."""
    instance = operator.instance()
    run = instance.get_run_by_id(run_id)
    billed = status["pages_billed"]
    tags = read_progress(run.tags)
    assert {p: int(tags[f"pages_billed_{p}"]) for p in PRODUCTS} == billed
    assert int(tags["pages_billed"]) == sum(billed.values())
    assert float(tags["cost_usd"]) == pytest.approx(status["estimated_cost_usd"])

    metadata_pages = dict.fromkeys(PRODUCTS, 0)
    metadata_cost = dict.fromkeys(PRODUCTS, 0.0)
    stage_cost = 0.0
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.dagster_event.event_specific_data.materialization
        if materialization.asset_key in (PARSED_LAYOUTS, KIE_FIELDS):
            for product, (pages, cost) in billed_by_product(materialization.metadata).items():
                metadata_pages[product] += pages
                metadata_cost[product] += cost
            stage_cost += materialization.metadata["estimated_cost_usd"].value
    assert metadata_pages == billed
    assert metadata_cost == pytest.approx(status["cost_usd"])
    assert stage_cost == pytest.approx(status["estimated_cost_usd"])

    (check,) = [e.dagster_event.event_specific_data for e in instance.all_logs(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        if e.dagster_event.event_specific_data.asset_key == VALIDATED_DOCUMENTS]
    summary = {k: getattr(v, "value", v) for k, v in check.metadata.items()}
    assert {p: summary[f"pages_billed_{p}"] for p in PRODUCTS} == billed
    assert summary["estimated_cost_usd"] == pytest.approx(status["estimated_cost_usd"])

    alert = summarize_run(instance, run)
    assert alert.pages_billed == sum(billed.values())
    assert alert.cost_usd == pytest.approx(status["estimated_cost_usd"])
    assert f"${status['estimated_cost_usd']:.2f}" in alert.text()


@pytest.mark.slow
def test_status_tags_metadata_and_alerts_agree_on_pages_and_cost(operator):
    write_pdfs(operator.data_root / "incoming", 2, pages=2)
    code, outcome, err = operator.cli_json("ingest", str(operator.data_root / "incoming"), "--wait", "--no-progress")
    assert outcome["done"] == 2, err  # (mostly quarantined: the run's outcome is defect 10's matter)
    code, status, _ = operator.cli_json("status")
    assert status["pages"] == 4
    assert status["pages_billed"] == {"parse": 4, "classification": 4, "extraction": 4}, "one definition per product"
    prices = status["price_per_page_usd"]
    assert all(prices[p] > 0 for p in PRODUCTS), "every product is priced"
    assert status["cost_usd"] == {p: round(4 * prices[p], 4) for p in PRODUCTS}
    assert status["estimated_cost_usd"] == round(sum(4 * prices[p] for p in PRODUCTS), 4) > 0

    code, out, _ = operator.cli("status")
    assert f"${status['estimated_cost_usd']:.2f}" in out and "$0.00 " not in out.split("estimated")[1][:12]
    assert "parse 4 pages" in out and "classification 4 pages" in out and "extraction 4 pages" in out

    (run_id,) = [r["run_id"] for r in outcome["runs"]]
    _the_run_agrees_with_status(operator, run_id, status)


@pytest.mark.slow
def test_classification_is_its_own_product_at_its_own_price(operator, monkeypatch):
    """Prices that differ per product, and documents that bill the products differently: two
    invoices (2 pages each) under invoice/, a receipt under auto/ (routed by its class), a prose
    report under invoice/ (classified, quarantined as wrong_document_type, never extracted).
    Classification pages priced as extraction, or counted under it, would show here."""
    from upstage_assets_tests.classification.documents import kind_pdfs, report_pdf

    prices = {"parse": 0.01, "classification": 0.004, "extraction": 0.025}
    monkeypatch.setenv("UPSTAGE_CLIENT_PRICE_PARSE_STANDARD", str(prices["parse"]))
    monkeypatch.setenv("UPSTAGE_CLIENT_PRICE_CLASSIFY", str(prices["classification"]))
    monkeypatch.setenv("UPSTAGE_CLIENT_PRICE_EXTRACT", str(prices["extraction"]))
    incoming = operator.data_root / "incoming"
    write_pdfs(incoming / "invoice", 2, pages=2)
    (incoming / "invoice" / "report.pdf").write_bytes(report_pdf())  # 2 pages
    (receipt,) = kind_pdfs(operator.data_root / "kinds")["receipt"]
    (incoming / "auto").mkdir()
    (incoming / "auto" / "receipt.pdf").write_bytes(receipt.read_bytes())
    code, outcome, err = operator.cli_json("ingest", str(incoming), "--wait", "--no-progress")
    assert outcome["done"] == 4 and not outcome["failed"], err

    code, status, _ = operator.cli_json("status")
    assert status["price_per_page_usd"] == prices, "status prices each product with the setting"
    pages = status["pages"]
    assert pages >= 7  # 2 + 2 + 2 + the receipt's
    assert status["pages_billed"] == {"parse": pages, "classification": pages, "extraction": pages - 2}
    expected = {p: round(status["pages_billed"][p] * prices[p], 4) for p in PRODUCTS}
    assert status["cost_usd"] == expected
    assert status["estimated_cost_usd"] == pytest.approx(sum(expected.values()))
    assert status["quarantined"].get("invoice", 0) >= 1, "the report, as wrong_document_type"
    assert status["rows"].get("receipt", 0) + status["quarantined"].get("receipt", 0) == 1, "routed by its class"

    (run_id,) = [r["run_id"] for r in outcome["runs"]]
    _the_run_agrees_with_status(operator, run_id, status)
