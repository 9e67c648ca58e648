"""Auth, unknown routes and methods, and the document refusals' status codes, over real HTTP."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from upstage_assets_tests.emulator.conftest import AUTH, make_pdf

API_POSTS = [
    "/v1/document-digitization", "/v1/document-ai/document-parse", "/v1/document-ai/layout-analysis",
    "/v1/document-ai/ocr", "/v1/document-digitization/async", "/v1/document-ai/async/document-parse",
    "/v1/information-extraction", "/v1/information-extraction/chat/completions",
    "/v1/information-extraction/schema-generation",
    "/v1/information-extraction/schema-generation/chat/completions",
    "/v1/information-extraction/async", "/v1/document-ai/extraction",
]
API_GETS = ["/v1/document-digitization/requests", "/v1/document-digitization/requests/abc",
            "/v1/document-ai/requests/abc", "/v1/information-extraction/jobs",
            "/v1/information-extraction/jobs/abc"]


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize("path", API_POSTS)
def test_every_post_route_requires_a_bearer_key(emulator, path):
    assert_openai_error(httpx.post(emulator.url + path), 401)
    assert_openai_error(httpx.post(emulator.url + path, headers={"Authorization": "Bearer"}), 401)
    assert_openai_error(httpx.post(emulator.url + path, headers={"Authorization": "Basic abc"}), 401)


@pytest.mark.parametrize("path", API_GETS)
def test_every_get_route_requires_a_bearer_key(emulator, path):
    assert_openai_error(httpx.get(emulator.url + path), 401)


@pytest.mark.parametrize("path", API_POSTS)
def test_every_post_route_exists_and_refuses_an_empty_request_with_400(client, path):
    assert_openai_error(client.post(path), 400)


def test_a_configured_key_must_match_exactly(start_emulator):
    emulator = start_emulator(api_key="up_right")
    wrong = httpx.get(emulator.url + "/v1/document-digitization/requests", headers=AUTH)
    assert_openai_error(wrong, 401)
    right = httpx.get(emulator.url + "/v1/document-digitization/requests",
                      headers={"Authorization": "Bearer up_right"})
    assert right.status_code == 200 and right.json() == {"requests": []}


def test_unknown_routes_jobs_and_methods_answer_404_and_405(client):
    assert_openai_error(client.get("/v1/nothing-here"), 404)
    assert_openai_error(client.get("/v1/document-digitization/requests/no-such-id"), 404)
    assert_openai_error(client.get("/v1/document-ai/requests/no-such-id"), 404)
    assert_openai_error(client.get("/v1/information-extraction/jobs/no-such-id"), 404)
    assert_openai_error(client.get("/v1/document-digitization"), 405)


def test_document_refusals_use_the_api_status_codes(start_emulator):
    emulator = start_emulator(max_bytes=50_000, sync_max_pages=2)
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        def post(document: bytes, model: str = "document-parse") -> httpx.Response:
            return client.post("/v1/document-digitization", data={"model": model},
                               files={"document": ("doc.pdf", document, "application/pdf")})

        assert assert_openai_error(post(b"<html><body>not a pdf</body></html>"), 415)["code"] == \
            "unsupported_document_format"
        assert assert_openai_error(post(b"%PDF-1.7\n" + b"\x00" * 60_000), 413)["code"] == "document_too_large"
        assert assert_openai_error(post(make_pdf(3)), 413)["code"] == "too_many_pages"
        assert assert_openai_error(post(b"%PDF-1.4\n1 0 obj garbage"), 422)["code"] == "corrupted_document"
        assert assert_openai_error(post(make_pdf(1), model="gpt-4"), 400)["code"] == "invalid_model_name"
        assert assert_openai_error(post(b""), 400)["code"] == "no_document"
        no_model = client.post("/v1/document-digitization", files={"document": ("d.pdf", make_pdf(1))})
        assert assert_openai_error(no_model, 400)["code"] == "invalid_model_name"
        no_document = client.post("/v1/document-digitization", data={"model": "document-parse"})
        assert assert_openai_error(no_document, 400)["code"] == "no_document"
        declared_too_big = client.post("/v1/document-digitization", content=b"x" * 2_200_000,
                                       headers={"content-type": "multipart/form-data; boundary=zz"})
        assert_openai_error(declared_too_big, 413)


def test_the_ocr_endpoint_refuses_a_parse_model(client, pdf_1page):
    response = client.post("/v1/document-ai/ocr", data={"model": "document-parse"},
                           files={"document": ("d.pdf", pdf_1page)})
    assert assert_openai_error(response, 400)["code"] == "invalid_model_name"


def _chat_body(schema: dict[str, object], document: bytes) -> dict[str, object]:
    url = "data:application/pdf;base64," + base64.b64encode(document).decode()
    return {"model": "information-extract",
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}}


@pytest.mark.parametrize("schema", [
    {"type": "array", "items": {"type": "string"}},
    {"type": "object", "properties": {"vendor": {"type": "object", "properties": {}}}},
    {"type": "object", "properties": {"rows": {"type": "array", "items": {"type": "array"}}}},
    {"type": "object", "properties": {f"field_{i}": {"type": "string"} for i in range(101)}},
    {"type": "object", "properties": {"x" * 10_001: {"type": "string"}}},
])
def test_schema_rule_violations_are_400(client, pdf_1page, schema):
    response = client.post("/v1/information-extraction", json=_chat_body(schema, pdf_1page))
    assert assert_openai_error(response, 400)["code"] == "invalid_schema"


def test_information_extraction_request_errors_are_400(client, pdf_1page):
    good = _chat_body({"type": "object", "properties": {"total": {"type": "number"}}}, pdf_1page)
    assert_openai_error(client.post("/v1/information-extraction", json={**good, "model": "gpt-4o"}), 400)
    assert_openai_error(client.post("/v1/information-extraction", json={**good, "messages": []}), 400)
    remote = {**good, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.pdf"}}]}]}
    assert_openai_error(client.post("/v1/information-extraction", json=remote), 400)
    assert_openai_error(client.post("/v1/information-extraction", content=b"{not json",
                                    headers={"content-type": "application/json"}), 400)
    prebuilt = client.post("/v1/information-extraction", data={"model": "menu-extraction"},
                           files={"document": ("d.pdf", pdf_1page)})
    assert assert_openai_error(prebuilt, 400)["code"] == "invalid_model_name"
    no_schema = client.post("/v1/information-extraction/async", data={"model": "information-extract"},
                            files={"documents": ("d.pdf", pdf_1page)})
    assert_openai_error(no_schema, 400)
    bad_schema = client.post("/v1/information-extraction/async",
                             data={"model": "information-extract", "schema": json.dumps({"type": "string"})},
                             files={"documents": ("d.pdf", pdf_1page)})
    assert_openai_error(bad_schema, 400)


def test_stats_count_routes_statuses_and_reset(start_emulator):
    emulator = start_emulator()
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        client.get("/v1/document-digitization/requests")
        client.get("/v1/document-digitization/requests")
        client.get("/v1/document-digitization/requests/missing")
        httpx.get(emulator.url + "/v1/information-extraction/jobs")
        stats = httpx.get(emulator.url + "/__emulator__/stats").json()
        assert stats["requests_by_route"] == {"/v1/document-digitization/requests": 2,
                                              "/v1/document-digitization/requests/{request_id}": 1,
                                              "/v1/information-extraction/jobs": 1}
        assert stats["requests_by_endpoint"] == {"requests": 3}
        assert stats["responses_by_status"] == {"200": 2, "401": 1, "404": 1}
        assert stats["peak_rps_by_endpoint"] == {"requests": 3}
        assert stats["rate_limited_429"]["total"] == 0
        assert httpx.post(emulator.url + "/__emulator__/stats/reset").json() == {"reset": True}
        assert httpx.get(emulator.url + "/__emulator__/stats").json()["requests_total"] == 0


def test_stats_without_each_documents_billing_keep_every_counter(start_emulator, pdf_1page):
    """A poller (the throughput bench, twice a second) asks for the counters only: the per-document
    billing, which grows with every document, is left out; everything else is the same."""
    emulator = start_emulator()
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        assert client.post("/v1/document-digitization", data={"model": "document-parse"},
                           files={"document": ("d.pdf", pdf_1page)}).status_code == 200
        full = httpx.get(emulator.url + "/__emulator__/stats").json()
        counters = httpx.get(emulator.url + "/__emulator__/stats?per_document=false").json()
    assert len(full["billed_by_document"]) == 1
    assert "billed_by_document" not in counters
    assert {k: v for k, v in full.items() if k not in ("billed_by_document", "uptime_s")} == \
        {k: v for k, v in counters.items() if k != "uptime_s"}
    assert counters["requests_by_endpoint"] == {"document-parse": 1}
