"""Contract tests: the client against the emulator over real HTTP, endpoint by endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from upstage_assets.schemas.extraction import load_schema
from upstage_assets.upstage_api.errors import (
    UpstageBadRequest,
    UpstageCorruptDocument,
    UpstagePayloadTooLarge,
    UpstageRateLimited,
    UpstageServerError,
    UpstageUnauthorized,
    UpstageUnsupportedType,
)
from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument

from .documents import make_pdf, pdf_document, png_document


def stats(handle) -> dict[str, Any]:
    return httpx.get(f"{handle.url}/__emulator__/stats").json()


def run(coro):
    return asyncio.run(coro)


def test_sync_parse_response_shape(start_emulator, make_client):
    emulator = start_emulator()
    parser = make_client(emulator.url).create_parser()
    response = run(parser.parse(pdf_document("doc-a", pages=2), ParseOptions()))
    assert response["api"] == "2.0" and response["model"].startswith("document-parse")
    assert set(response["content"]) >= {"html", "markdown", "text"}
    elements = response["elements"]
    assert [e["id"] for e in elements] == list(range(len(elements)))
    assert {e["page"] for e in elements} == {1, 2}
    assert all(len(e["coordinates"]) == 4 for e in elements)
    assert "INVOICE" in response["content"]["text"]
    assert response["usage"]["pages"] == 2
    assert parser.usage()["pages"] == 2 and parser.usage()["cost_usd"] == pytest.approx(0.02)
    assert stats(emulator)["requests_by_route"] == {"/v1/document-digitization": 1}


def test_sync_parse_options_reach_the_server(start_emulator, make_client):
    emulator = start_emulator()
    parser = make_client(emulator.url).create_parser()
    options = ParseOptions(output_formats=("text",), coordinates=False, ocr="force")
    response = run(parser.parse(png_document("img-a"), options))
    assert response["elements"], "OCR of a rendered image found no text"
    assert all("coordinates" not in e for e in response["elements"])
    assert all(e["content"].get("html", "") == "" for e in response["elements"])


def test_large_documents_go_async_and_merge(start_emulator, make_client):
    emulator = start_emulator()
    parser = make_client(emulator.url, sync_page_limit=10).create_parser()
    response = run(parser.parse(pdf_document("long", pages=23), ParseOptions()))
    routes = stats(emulator)["requests_by_route"]
    assert "/v1/document-digitization" not in routes
    assert routes["/v1/document-digitization/async"] == 1
    assert routes["/__emulator__/downloads/{token}"] == 3  # batches of 10, 10, 3 pages
    elements = response["elements"]
    assert [e["id"] for e in elements] == list(range(len(elements)))
    assert sorted({e["page"] for e in elements}) == list(range(1, 24))
    assert "Page 23 of 23" in response["content"]["text"]
    assert response["usage"]["pages"] == 23 and response["request_id"]
    html_ids = [e["content"]["html"].split("id='")[1].split("'")[0] for e in elements if "id='" in e["content"]["html"]]
    assert html_ids == [str(e["id"]) for e in elements if "id='" in e["content"]["html"]]


def test_sync_413_falls_back_to_async(start_emulator, make_client):
    emulator = start_emulator(sync_max_pages=5)
    parser = make_client(emulator.url).create_parser()
    response = run(parser.parse(pdf_document("seven", pages=7), ParseOptions()))
    assert sorted({e["page"] for e in response["elements"]}) == list(range(1, 8))
    routes = stats(emulator)["requests_by_route"]
    assert routes["/v1/document-digitization"] == 1 and routes["/v1/document-digitization/async"] == 1


def test_ocr(start_emulator, make_client):
    emulator = start_emulator()
    parser = make_client(emulator.url).create_parser()
    response = run(parser.ocr(png_document("img-ocr", "HELLO 123")))
    assert response["numBilledPages"] == 1 and response["apiVersion"] == "1.1"
    words = response["pages"][0]["words"]
    assert words and all(isinstance(v["x"], int) for w in words for v in w["boundingBox"]["vertices"])
    assert parser.usage()["by_endpoint"]["ocr"]["pages"] == 1


def test_information_extraction_fields(start_emulator, make_client):
    emulator = start_emulator()
    parser = make_client(emulator.url).create_parser()
    result = run(parser.extract(pdf_document("INV-7"), load_schema("invoice")))
    assert set(load_schema("invoice").properties) <= set(result.fields)
    number = result.fields["invoice_number"]
    assert number["value"] == "INV-7"
    assert isinstance(number["confidence"], float) and 0 < number["confidence"] <= 1
    assert number["page"] == 1 and len(number["coordinates"]) == 4
    assert result.response["object"] == "chat.completion" and result.pages_billed == 1


def test_prebuilt_receipt_extraction(start_emulator, make_client):
    emulator = start_emulator()
    parser = make_client(emulator.url).create_parser()
    result = run(parser.extract_prebuilt(png_document("rcpt", "TOTAL 42.50")))
    assert result.response["documentType"] == "receipt"
    assert all(isinstance(f["confidence"], float) for f in result.fields.values())
    assert result.pages_billed == 1


@pytest.mark.parametrize(("settings", "client", "document", "error"), [
    ({}, {}, "bad-model", UpstageBadRequest),
    ({"api_key": "up_the_right_one"}, {}, "pdf", UpstageUnauthorized),
    ({"max_bytes": 1000, "async_max_bytes": 1000}, {}, "pdf", UpstagePayloadTooLarge),
    ({}, {}, "html", UpstageUnsupportedType),
    ({}, {}, "corrupt", UpstageCorruptDocument),
    ({"fault_rate_429": 1.0}, {"max_attempts": 3}, "pdf", UpstageRateLimited),
    ({"fault_rate_5xx": 1.0}, {"max_attempts": 3}, "pdf", UpstageServerError),
])
def test_error_codes(start_emulator, make_client, settings, client, document, error):
    emulator = start_emulator(**settings)
    parser = make_client(emulator.url, **client).create_parser()
    options = ParseOptions(model="no-such-model") if document == "bad-model" else ParseOptions()
    source = {
        "html": SourceDocument("h", "h.pdf", b"<html><body>hi</body></html>", "text/html", 1),
        "corrupt": SourceDocument("c", "c.pdf", b"%PDF-1.4\n" + b"\x00garbage" * 50, "application/pdf", 1),
    }.get(document, SourceDocument("p", "p.pdf", make_pdf(1), "application/pdf", 1))
    with pytest.raises(error) as caught:
        run(parser.parse(source, options))
    retried = error in (UpstageRateLimited, UpstageServerError)
    assert caught.value.retryable is retried
    assert parser.budget.spent()["run_usd"] == 0  # nothing billed, the reservation was released
    attempts = sum(stats(emulator)["requests_by_route"].values())
    assert attempts == (3 if retried else 1 if error is not UpstagePayloadTooLarge else 2)
