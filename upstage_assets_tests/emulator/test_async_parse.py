"""Async Document Parse: batches, status timeline, presigned downloads, expiry and re-polling."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from upstage_assets_tests.emulator.conftest import AUTH, make_pdf

SUBMIT = "/v1/document-digitization/async"
POLL = "/v1/document-digitization/requests/{}"


def submit(client: httpx.Client, document: bytes, path: str = SUBMIT, **fields: str) -> str:
    response = client.post(path, data={"model": "document-parse", **fields},
                           files={"document": ("doc.pdf", document, "application/pdf")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"request_id"}
    return str(body["request_id"])


def poll_until_done(client: httpx.Client, request_id: str, path: str = POLL,
                    timeout_s: float = 60.0) -> tuple[dict[str, Any], list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(path.format(request_id)).json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in ("completed", "failed"):
            return body, seen
        time.sleep(0.02)
    raise AssertionError(f"job {request_id} did not finish; statuses {seen}")


def test_23_pages_run_as_three_batches_with_document_wide_pages(start_emulator):
    emulator = start_emulator(async_queue_s=0.3, async_batch_s=0.2)
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=60) as client:
        request_id = submit(client, make_pdf(23), output_formats='["html","text"]')
        first = client.get(POLL.format(request_id)).json()
        assert first["status"] == "submitted" and first["completed_at"] is None
        assert [(b["id"], b["start_page"], b["end_page"], b["status"]) for b in first["batches"]] == [
            (0, 1, 10, "scheduled"), (1, 11, 20, "scheduled"), (2, 21, 23, "scheduled")]
        body, seen = poll_until_done(client, request_id)
    assert seen[0] == "submitted" and "started" in seen and seen[-1] == "completed", (seen, body)
    assert body["total_pages"] == body["completed_pages"] == 23
    assert body["model"] == "document-parse" and body["failure_message"] == ""
    assert body["requested_at"].endswith("Z") and body["completed_at"].endswith("Z")
    pages_seen: set[int] = set()
    for batch in body["batches"]:
        assert batch["status"] == "completed" and batch["model"] == "document-parse-260930"
        url = batch["download_url"]
        assert url.startswith(emulator.url + "/__emulator__/downloads/")
        result = httpx.get(url).json()  # presigned: no Authorization header
        assert result["api"] == "2.0" and result["model"] == "document-parse-260930"
        assert result["usage"]["pages"] == batch["end_page"] - batch["start_page"] + 1
        assert "Page" in result["content"]["text"]
        pages = {element["page"] for element in result["elements"]}
        assert pages <= set(range(batch["start_page"], batch["end_page"] + 1))
        pages_seen |= pages
    assert pages_seen == set(range(1, 24))


def test_download_urls_expire_with_403_and_a_fresh_poll_mints_new_ones(start_emulator):
    emulator = start_emulator(download_url_ttl_s=0.5)
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=60) as client:
        request_id = submit(client, make_pdf(2))
        body, _ = poll_until_done(client, request_id)
        assert body["status"] == "completed", body
        old_url = body["batches"][0]["download_url"]
        assert httpx.get(old_url).status_code == 200
        time.sleep(0.6)
        expired = httpx.get(old_url)
        assert expired.status_code == 403 and b"expired" in expired.content
        fresh = client.get(POLL.format(request_id)).json()["batches"][0]["download_url"]
        assert fresh != old_url
        assert httpx.get(fresh).json()["usage"]["pages"] == 2


def test_status_and_listing_while_queued(start_emulator):
    emulator = start_emulator(async_queue_s=5.0)
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        request_id = submit(client, make_pdf(1))
        listing = client.get("/v1/document-digitization/requests").json()
        legacy_listing = client.get("/v1/document-ai/requests").json()
    assert listing == legacy_listing
    (entry,) = listing["requests"]
    assert entry["id"] == request_id and entry["status"] == "submitted" and entry["completed_at"] is None
    assert set(entry) == {"id", "status", "model", "requested_at", "completed_at"}


def test_too_many_pages_fails_the_job_not_the_submission(start_emulator):
    emulator = start_emulator(async_max_pages=3)
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        body, seen = poll_until_done(client, submit(client, make_pdf(4)))
    assert body["status"] == "failed" and "4 pages" in body["failure_message"]
    assert body["completed_at"] is not None
    assert all(b["status"] == "failed" and b["download_url"] == "" for b in body["batches"])


def test_corrupt_document_fails_the_job(client):
    body, _ = poll_until_done(client, submit(client, b"%PDF-1.4\n broken beyond repair"))
    assert body["status"] == "failed" and "corrupt" in body["failure_message"]


def test_submission_refusals_are_immediate(start_emulator):
    emulator = start_emulator(async_max_bytes=20_000)
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        def post(document: bytes, model: str = "document-parse") -> int:
            return client.post(SUBMIT, data={"model": model}, files={"document": ("d", document)}).status_code

        assert post(b"<html></html>") == 415
        assert post(b"%PDF-1.7" + b"\x00" * 30_000) == 413
        assert post(make_pdf(1), model="nope") == 400
        assert client.post(SUBMIT, data={"model": "document-parse"}).status_code == 400


def test_injected_batch_failure_fails_the_job_with_a_message(start_emulator):
    emulator = start_emulator(fault_rate_job_failure=1.0, seed=5)
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        body, _ = poll_until_done(client, submit(client, make_pdf(1)))
    assert body["status"] == "failed"
    assert body["batches"][0]["status"] == "failed"
    assert "batch 0" in body["failure_message"] and body["batches"][0]["failure_message"]


@pytest.mark.slow
def test_legacy_async_routes_and_ocr_model(client, png_image):
    request_id = submit(client, make_pdf(1), path="/v1/document-ai/async/document-parse")
    body, _ = poll_until_done(client, request_id, path="/v1/document-ai/requests/{}")
    assert body["status"] == "completed", body
    response = client.post(SUBMIT, data={"model": "ocr"}, files={"document": ("a.png", png_image, "image/png")})
    ocr_body, _ = poll_until_done(client, response.json()["request_id"])
    assert ocr_body["status"] == "completed", ocr_body
    result = httpx.get(ocr_body["batches"][0]["download_url"]).json()
    assert result["modelVersion"] == "ocr-260930" and result["pages"][0]["id"] == 0


def test_unknown_or_forged_download_tokens_are_403(emulator):
    assert httpx.get(emulator.url + "/__emulator__/downloads/forged-token").status_code == 403
