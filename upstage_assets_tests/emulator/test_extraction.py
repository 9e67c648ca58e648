"""Information Extraction: chat form, location/confidence, schema generation, prebuilt, async jobs."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from upstage_assets_tests.emulator.conftest import make_pdf

SCHEMA = {"type": "object", "properties": {
    "invoice_number": {"type": "string", "description": "Invoice number (Invoice No)"},
    "total": {"type": "number", "description": "Total amount"}}}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "invoice", "schema": SCHEMA}}


def data_url(document: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64," + base64.b64encode(document).decode()


def chat_body(document: bytes, **extra: Any) -> dict[str, Any]:
    return {"model": "information-extract", "response_format": RESPONSE_FORMAT,
            "messages": [{"role": "user", "content": [{"type": "image_url",
                                                        "image_url": {"url": data_url(document)}}]}], **extra}


@pytest.mark.parametrize("path", ["/v1/information-extraction", "/v1/information-extraction/chat/completions"])
def test_chat_form_extracts_fields_as_a_json_string(client, pdf_1page, path):
    response = client.post(path, json=chat_body(pdf_1page, mode="standard", doc_split=False, unknown_key=1))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "information-extract-260904"
    assert body["id"].startswith("iex-") or body["id"]
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant" and body["choices"][0]["finish_reason"] == "stop"
    values = json.loads(message["content"])
    assert values["invoice_number"] == "INV-001"
    assert values["total"] == pytest.approx(42.5)
    assert "tool_calls" not in message or not message["tool_calls"]


def test_location_and_confidence_add_the_additional_values_tool_call(client, pdf_1page):
    body = client.post("/v1/information-extraction",
                       json=chat_body(pdf_1page, location=True, confidence=True)).json()
    call = body["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "additional_values"
    arguments = json.loads(call["function"]["arguments"])  # a JSON string, as in OpenAI
    invoice = arguments["invoice_number"]
    assert invoice["_value"] == "INV-001" and invoice["page"] == 1
    assert invoice["confidence"] in ("high", "low") and len(invoice["coordinates"]) == 4


@pytest.mark.parametrize("path, model", [
    ("/v1/information-extraction/schema-generation", "information-extract"),
    ("/v1/information-extraction/schema-generation/chat/completions", "information-extract"),
    ("/v1/information-extraction", "schema-generate"),
])
def test_schema_generation_returns_a_usable_response_format(client, pdf_1page, path, model):
    body = {"model": model, "messages": [
        {"role": "system", "content": "Extract invoice header fields"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(pdf_1page)}}]}]}
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    generated = json.loads(response.json()["choices"][0]["message"]["content"])
    assert generated["type"] == "json_schema"
    properties = generated["json_schema"]["schema"]["properties"]
    assert "invoice_no" in properties and properties["total"]["type"] == "number"
    reused = client.post("/v1/information-extraction", json={**chat_body(pdf_1page), "response_format": generated})
    assert reused.status_code == 200, reused.text
    assert json.loads(reused.json()["choices"][0]["message"]["content"])["invoice_no"] == "INV-001"


def test_schema_generation_takes_at_most_three_files(client, pdf_1page):
    part = {"type": "image_url", "image_url": {"url": data_url(pdf_1page)}}
    body = {"model": "information-extract", "messages": [{"role": "user", "content": [part] * 4}]}
    assert client.post("/v1/information-extraction/schema-generation", json=body).status_code == 400


@pytest.mark.parametrize("path", ["/v1/information-extraction", "/v1/document-ai/extraction"])
def test_prebuilt_receipt_extraction_answers_fields(client, path):
    receipt = make_pdf(1, lines=("CORNER CAFE", "Date: 2024-03-05", "Total: 12.30"))
    response = client.post(path, data={"model": "receipt-extraction"},
                           files={"document": ("r.pdf", receipt, "application/pdf")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["apiVersion"] == "1.1" and body["documentType"] == "receipt"
    assert body["numBilledPages"] == 1 and body["metadata"] == {"totalPages": 1}
    by_key = {f["key"]: f for f in body["fields"]}
    assert by_key["total"]["value"] in ("12.30", "12.3")
    assert [f["id"] for f in body["fields"]] == list(range(1, len(body["fields"]) + 1))
    assert all(0.0 <= f["confidence"] <= 1.0 for f in body["fields"])


def test_prebuilt_ignores_pages_after_the_limit(start_emulator):
    from upstage_assets_tests.emulator.conftest import AUTH

    emulator = start_emulator(prebuilt_max_pages=2)
    response = httpx.post(emulator.url + "/v1/information-extraction", headers=AUTH, timeout=60,
                          data={"model": "receipt-extraction"}, files={"document": ("r.pdf", make_pdf(3))})
    assert response.status_code == 200, response.text
    assert response.json()["numBilledPages"] == 2 and response.json()["metadata"] == {"totalPages": 3}


def test_async_extraction_job_lifecycle(client, pdf_1page):
    files = [("documents", ("a.pdf", pdf_1page, "application/pdf")),
             ("documents", ("b.html", b"<html>nope</html>", "text/html"))]
    response = client.post("/v1/information-extraction/async", files=files,
                           data={"model": "information-extract", "schema": json.dumps(SCHEMA)})
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    first = client.get(f"/v1/information-extraction/jobs/{job_id}").json()
    assert first["status"] == "CREATED" and first["total_documents"] == 2
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(f"/v1/information-extraction/jobs/{job_id}").json()
        if body["status"] not in ("CREATED", "IN_PROGRESS"):
            break
        time.sleep(0.05)
    assert body["status"] == "PARTIALLY_COMPLETED", body
    assert "result" not in body["batches"][0]
    full = client.get(f"/v1/information-extraction/jobs/{job_id}", params={"with_result": "true"}).json()
    first_batch, second_batch = full["batches"]
    assert (first_batch["id"], first_batch["file_name"], first_batch["status"]) == (1, "a.pdf", "COMPLETED")
    content = json.loads(first_batch["result"]["choices"][0]["message"]["content"])
    assert content["invoice_number"] == "INV-001"
    assert second_batch["status"] == "FAILED" and "unsupported" in second_batch["failure_message"]
    assert full["completed_documents"] == 1 and full["started_at"] and full["completed_at"]
    listing = client.get("/v1/information-extraction/jobs").json()
    assert job_id in [job["job_id"] for job in listing["jobs"]]
