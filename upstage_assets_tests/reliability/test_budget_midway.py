"""The spend limit reached mid-backfill (issue 20): documents not sent stay pending, not failed;
the run says so; raising the limit then ``retry-failed`` finishes them without sending anything twice.

Real emulator on loopback, the real client and budget (SQLite state store), the CLI in-process.
"""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets_tests.pipeline.test_batch_isolation import invoice_pdf, rows_by_document, run_cli
from upstage_assets_tests.reliability.billing import billed_answers, paid_twice

KEY = "up_budget_test_key_0123456789"
DOCUMENTS = 8
PRICE = 0.01  # the client's default per page, parse and extract alike: 0.02 per one-page document


@pytest.mark.slow
def test_documents_past_the_limit_stay_pending_and_finish_once_it_is_raised(capsys, data_root, tmp_path,
                                                                            monkeypatch):
    inbox = data_root / "incoming"
    inbox.mkdir()
    for number in range(DOCUMENTS):
        (inbox / f"invoice-{number}.pdf").write_bytes(invoice_pdf(number))
    with run_emulator_in_thread(EmulatorSettings(api_key=KEY)) as emulator:
        for name, value in {"DAGSTER_HOME": str(tmp_path / "dagster_home"), "UPSTAGE_ASSETS_BACKEND": "emulator",
                            "UPSTAGE_API_BASE_URL": emulator.url, "UPSTAGE_API_KEY": KEY,
                            "UPSTAGE_ASSETS_STATE_STORE": str(tmp_path / "state"),
                            "UPSTAGE_ASSETS_BUDGET_PER_DAY_USD": "0.07"}.items():
            monkeypatch.setenv(name, value)
        code, out, err = run_cli(capsys, "ingest", str(inbox), "--wait", "--json", "--no-progress", "--verbose")
        outcome = json.loads(out)
        assert code == 1 and all(f["error_code"] == "budget_exceeded" for f in outcome["failed"]), outcome
        assert outcome["done"] < DOCUMENTS  # documents in flight together may all have parsed first
        assert "were not sent: the spend limit was reached" in err and "retry-failed" in err
        instance = DagsterInstance.get()
        run = instance.get_runs(limit=1)[0]
        assert run.status == DagsterRunStatus.SUCCESS, "pending documents do not fail the run"
        pending = DOCUMENTS - outcome["done"]
        assert run.tags["upstage_assets/progress.pending_budget"] == str(pending)
        assert run.tags["upstage_assets/progress.failed"] == "0"

        code, out, _ = run_cli(capsys, "status", "--json")
        status = json.loads(out)
        assert code == 1 and status["failed"] == 0 and status["pending_budget"] == pending
        billed = billed_answers(emulator.url)
        spent = sum(sum(groups.values()) for groups in billed.values()) * PRICE
        assert spent <= 0.07 + 1e-9, "the limit held"

        monkeypatch.setenv("UPSTAGE_ASSETS_BUDGET_PER_DAY_USD", "1.00")
        code, out, err = run_cli(capsys, "retry-failed", "--wait", "--json", "--no-progress")
        assert code == 0, err
        assert json.loads(out)["still_failed"] == []
        code, out, _ = run_cli(capsys, "status", "--json")
        status = json.loads(out)
        assert code == 0 and status["pending_budget"] == 0 and status["failed"] == 0
        assert len(rows_by_document(data_root / "outputs")) == DOCUMENTS

        billed = billed_answers(emulator.url)
        documents = instance.get_dynamic_partitions("documents")
        assert paid_twice(billed, documents) == [], billed
        once = {"document-parse": 1, "document-classification": 1, "information-extraction": 1}
        assert all(billed[d] == once for d in documents), billed
