"""Spend limits: checked before sending, shared by processes, warned at thresholds, settled after."""

from __future__ import annotations

import asyncio

import pytest

from upstage_assets.errors import BudgetExceeded
from upstage_assets.resources.upstage_client import UpstageClient
from upstage_assets.upstage_api.budget import SpendBudget
from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument
from upstage_assets.upstage_api.shared_state import SqliteStateStore
from upstage_assets_tests.fixtures.pools import process_pool

from .budget_worker import reserve_many
from .conftest import SENTINEL_KEY
from .scripted_server import Answer

PARSE = "/v1/document-digitization"


def parse_answer(pages: int) -> Answer:
    return Answer(200, {"api": "2.0", "model": "document-parse-260930", "content": {"html": "", "text": ""},
                        "elements": [], "usage": {"pages": pages}})


def document(doc_id: str, pages: int) -> SourceDocument:
    return SourceDocument(doc_id, f"{doc_id}.pdf", b"%PDF-1.4 fake", "application/pdf", pages)


def test_run_limit_refuses_before_sending(server, tmp_path):
    server.defaults[PARSE] = parse_answer(10)
    warnings: list[str] = []
    client = UpstageClient(base_url=server.url, api_key=SENTINEL_KEY, rate_limit_store=str(tmp_path),
                           parse_requests_per_second=1000, budget_per_run_usd=0.25)
    parser = client.create_parser(run_id="run-1", on_budget_warning=warnings.append)

    async def go() -> None:
        await parser.parse(document("a", 10), ParseOptions())  # $0.10
        await parser.parse(document("b", 10), ParseOptions())  # $0.20: crosses 50%
        await parser.parse(document("c", 10), ParseOptions())  # would be $0.30 > $0.25

    with pytest.raises(BudgetExceeded) as caught:
        asyncio.run(go())
    assert caught.value.retryable and caught.value.code == "budget_exceeded"
    assert "document c (10 pages x $0.0100/page = $0.1000)" in caught.value.message
    assert "run limit $0.25" in caught.value.message
    assert len(server.arrivals_for(PARSE)) == 2  # the third was never sent
    assert warnings == ["Upstage spend for run scope reached 50% of its $0.25 limit ($0.2000 spent)"]
    assert parser.budget.spent()["run_usd"] == pytest.approx(0.20)
    assert parser.usage()["pages"] == 20 and parser.usage()["cost_usd"] == pytest.approx(0.20)


def test_reservation_is_settled_to_billed_pages_and_released_on_failure(server, tmp_path):
    server.queue(PARSE, parse_answer(3), Answer(415, {"error": {"message": "unsupported"}}))
    client = UpstageClient(base_url=server.url, api_key=SENTINEL_KEY, rate_limit_store=str(tmp_path),
                           parse_requests_per_second=1000, budget_per_day_usd=100.0)
    parser = client.create_parser(run_id="run-2")
    asyncio.run(parser.parse(document("a", 5), ParseOptions()))  # reserved 5 pages, billed 3
    assert parser.budget.spent()["run_usd"] == pytest.approx(0.03)
    with pytest.raises(Exception, match="415"):
        asyncio.run(parser.parse(document("b", 5), ParseOptions()))
    assert parser.budget.spent()["run_usd"] == pytest.approx(0.03)


def test_daily_spend_persists_and_warns_once_per_threshold(tmp_path):
    warnings: list[str] = []
    first = SpendBudget(SqliteStateStore(tmp_path), "r1", per_day_usd=1.0, on_warning=warnings.append,
                        today=lambda: "2026-11-22")
    first.reserve("a", 60, 0.01)  # 0.60: crosses 50%
    second = SpendBudget(SqliteStateStore(tmp_path), "r2", per_day_usd=1.0, on_warning=warnings.append,
                         today=lambda: "2026-11-22")
    assert second.spent() == {"run_usd": 0.0, "day_usd": pytest.approx(0.60)}
    second.reserve("b", 31, 0.01)  # 0.91: crosses 90%
    second.reserve("c", 5, 0.01)  # 0.96: nothing new
    with pytest.raises(BudgetExceeded, match="daily limit"):
        second.reserve("d", 5, 0.01)
    assert [w.split(" reached ")[1][:3] for w in warnings] == ["50%", "90%"]
    tomorrow = SpendBudget(SqliteStateStore(tmp_path), "r3", per_day_usd=1.0, today=lambda: "2026-11-23")
    tomorrow.reserve("d", 5, 0.01)  # a new day starts at zero


def test_concurrent_processes_cannot_overshoot(tmp_path):
    with process_pool(4) as pool:
        accepted = pool.starmap(reserve_many, [(str(tmp_path), 10)] * 4)
    assert sum(accepted) == 20  # $10 / $0.50, whoever got them
    assert SqliteStateStore(tmp_path).spend("default:run:shared-run") == pytest.approx(10.0)
