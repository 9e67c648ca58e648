"""Document Classification over real HTTP: the production client against the emulator on loopback.

The emulator answers with the local classifier; the client sends the labels (with descriptions)
as Upstage's ``response_format`` and reads the chosen label back (contract section 6b).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from upstage_assets.schemas.classification import (
    DocumentLabel,
    classification_response_format,
    labels_for_schemas,
)
from upstage_assets.schemas.extraction import load_schema
from upstage_assets.upstage_api.classification import build_request
from upstage_assets.upstage_api.parser import SourceDocument

from .documents import kind_pdfs

KEY = "up_test_key"


@pytest.fixture(scope="module")
def emulator():
    from upstage_assets.emulator.server import run_emulator_in_thread
    from upstage_assets.emulator.settings import EmulatorSettings

    handle = run_emulator_in_thread(EmulatorSettings())
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    return kind_pdfs(tmp_path_factory.mktemp("kinds"))


def _client(url, tmp_path):
    from upstage_assets.resources.upstage_client import UpstageClient

    return UpstageClient(base_url=url, api_key=KEY, rate_limit_store=str(tmp_path / "limits"),
                         classify_requests_per_second=1000.0, backoff_base_s=0.01)


def _document(path) -> SourceDocument:
    return SourceDocument(path.stem, path.name, path.read_bytes(), "application/pdf", 1)


def test_the_client_gets_each_kind_back_and_bills_it(emulator, kinds, tmp_path):
    labels = labels_for_schemas([load_schema("invoice"), load_schema("receipt")])
    parser = _client(emulator.url, tmp_path).create_parser()

    async def classify_all():
        try:
            return {kind: [await parser.classify(_document(p), labels) for p in paths] for kind, paths in kinds.items()}
        finally:
            await parser.aclose()

    answers = asyncio.run(classify_all())
    for kind, results in answers.items():
        for result in results:
            assert result.classification.label == kind
            assert result.classification.classified_by.startswith("document-classify")
            assert result.classification.confidence is None  # the API gives none
            assert result.response["object"] == "chat.completion"
    assert parser.usage()["pages"] >= sum(len(v) for v in kinds.values())
    stats = httpx.get(f"{emulator.url}/__emulator__/stats").json()
    assert stats["requests_by_route"].get("/v1/document-classification") == sum(len(v) for v in kinds.values())


def test_a_classification_spends_the_budget_at_its_own_price(emulator, kinds, tmp_path):
    """The spend limit counts classifications priced ``price_classify`` (not the extraction price):
    one fits the limit, the next would pass it and is refused before anything is sent."""
    from upstage_assets.errors import BudgetExceeded
    from upstage_assets.resources.upstage_client import UpstageClient

    labels = labels_for_schemas([load_schema("invoice"), load_schema("receipt")])
    client = UpstageClient(base_url=emulator.url, api_key=KEY, rate_limit_store=str(tmp_path / "limits"),
                           classify_requests_per_second=1000.0, backoff_base_s=0.01,
                           price_classify=0.05, price_extract=0.001, budget_per_run_usd=0.08)
    parser = client.create_parser(run_id="budget-run")
    document = _document(kinds["invoice"][0])
    assert document.page_count == 1

    def sent() -> int:
        stats = httpx.get(f"{emulator.url}/__emulator__/stats").json()
        return int(stats["requests_by_route"].get("/v1/document-classification", 0))

    async def classify_twice():
        try:
            await parser.classify(document, labels)
            before = sent()
            with pytest.raises(BudgetExceeded, match="0.0500/page"):
                await parser.classify(document, labels)
            return before
        finally:
            await parser.aclose()

    before = asyncio.run(classify_twice())
    assert sent() == before, "the refused classification was never sent"
    assert parser.usage()["spend"]["run_usd"] == pytest.approx(0.05)
    assert client.product_prices() == {"parse": client.price_parse_standard, "classification": 0.05,
                                       "extraction": 0.001}


def test_a_users_labels_and_descriptions_pick_the_class(emulator, kinds):
    """Labels are the user's own: a description names what the label means."""
    labels = [DocumentLabel("payment_request", "A bill or invoice asking the customer to pay an amount due"),
              DocumentLabel("till_slip", "A shop receipt: items paid, cash or card, change"),
              DocumentLabel("others", "anything else")]
    body = build_request(_document(kinds["invoice"][0]), labels)
    response = httpx.post(f"{emulator.url}/v1/document-classification/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "payment_request"
    body = build_request(_document(kinds["receipt"][0]), labels)
    response = httpx.post(f"{emulator.url}/v1/document-classification", json=body,
                          headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    assert response.json()["choices"][0]["message"]["content"] == "till_slip"


@pytest.mark.parametrize("change, code", [
    ({"model": "gpt-4"}, "invalid_model_name"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "string"}}}}, "invalid_schema"),
    ({"response_format": classification_response_format([DocumentLabel("a"), DocumentLabel("a")])}, "invalid_schema"),
])
def test_bad_requests_answer_400_with_the_api_error_body(emulator, kinds, change, code):
    body = {**build_request(_document(kinds["invoice"][0]), [DocumentLabel("invoice"), DocumentLabel("others")]),
            **change}
    response = httpx.post(f"{emulator.url}/v1/document-classification", json=body,
                          headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_an_answer_outside_the_labels_is_a_protocol_error():
    from upstage_assets.upstage_api.classification import chosen_label
    from upstage_assets.upstage_api.errors import UpstageProtocolError

    labels = [DocumentLabel("invoice"), DocumentLabel("others")]
    assert chosen_label({"choices": [{"message": {"content": '"invoice"'}}]}, labels) == ("invoice", None)
    with pytest.raises(UpstageProtocolError):
        chosen_label({"choices": [{"message": {"content": "receipt"}}]}, labels)
