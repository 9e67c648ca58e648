"""Document Parse on the wire, against a scripted server: request fields, async flow, merging."""

from __future__ import annotations

import asyncio
import json

import pytest

from upstage_assets.upstage_api.document_parse import (
    AsyncPollSettings,
    DocumentParseApi,
    merge_batches,
    upload_filename,
)
from upstage_assets.upstage_api.errors import UpstageJobFailed
from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument

from .conftest import make_http
from .scripted_server import Answer

SYNC = "/v1/document-digitization"
ASYNC = "/v1/document-digitization/async"
FAST_POLL = AsyncPollSettings(initial_interval_s=0.01, max_interval_s=0.05)


def element(i: int, page: int, label: int) -> dict:
    return {"id": i, "category": "paragraph", "page": page,
            "content": {"html": f"<p id='{i}' data-category='paragraph'>p{label}</p>", "markdown": f"p{label}",
                        "text": f"p{label}"},
            "coordinates": [{"x": 0.1, "y": 0.1}, {"x": 0.9, "y": 0.1}, {"x": 0.9, "y": 0.2}, {"x": 0.1, "y": 0.2}]}


def batch_result(pages: range, *, relative_to: int = 1) -> dict:
    elements = [element(i, page - relative_to + 1, page) for i, page in enumerate(pages)]
    return {"apiVersion": "1.1", "model": "document-parse-260930", "content": {"html": "", "markdown": "", "text": ""},
            "elements": elements, "usage": {"pages": len(pages)}}


def doc(pages: int = 1, name: str = "in/voice?.pdf") -> SourceDocument:
    return SourceDocument("d1", name, b"%PDF-1.4 test", "application/pdf", pages)


def test_every_request_field_is_sent(server):
    server.defaults[SYNC] = Answer(200, batch_result(range(1, 2)))
    api = DocumentParseApi(make_http(server.url))
    options = ParseOptions(mode="enhanced", ocr="force", output_formats=("html", "text"), coordinates=False,
                           chart_recognition=False, merge_multipage_tables=True, base64_encoding=("table",))
    response = asyncio.run(api.parse(doc(), options))
    assert response["api"] == "1.1"  # apiVersion accepted as api
    sent = server.arrivals_for(SYNC)[0]
    assert sent.form == {"model": "document-parse", "mode": "enhanced", "ocr": "force",
                         "output_formats": '["html", "text"]', "coordinates": "false",
                         "chart_recognition": "false", "merge_multipage_tables": "true",
                         "base64_encoding": '["table"]'}
    assert sent.file_names == ["document:voice_.pdf:13"]


def test_upload_filename_has_no_path_and_the_right_extension():
    png = SourceDocument("abc", "C:\\scans\\" + "x" * 2000 + ".pdf", b"", "image/png", 1)
    name = upload_filename(png)
    assert name.endswith(".png") and "\\" not in name and "/" not in name and len(name) <= 130


def test_async_flow_polls_downloads_renews_expired_urls_and_merges(server):
    api = DocumentParseApi(make_http(server.url), sync_page_limit=10, poll=FAST_POLL)
    base = server.url
    batches = [{"id": 1, "status": "completed", "start_page": 11, "end_page": 20, "download_url": f"{base}/dl/1"},
               {"id": 0, "status": "completed", "start_page": 1, "end_page": 10, "download_url": f"{base}/dl/0"},
               {"id": 2, "status": "completed", "start_page": 21, "end_page": 23, "download_url": f"{base}/dl/2"}]
    server.queue(ASYNC, Answer(200, {"request_id": "req-1"}))
    path = "/v1/document-digitization/requests/req-1"
    server.queue(path, Answer(200, {"id": "req-1", "status": "submitted", "batches": []}),
                 Answer(200, {"id": "req-1", "status": "started", "batches": []}),
                 Answer(200, {"id": "req-1", "status": "completed", "total_pages": 23, "batches": batches}),
                 Answer(200, {"id": "req-1", "status": "completed", "total_pages": 23, "batches": batches}))
    server.queue("/dl/0", Answer(200, batch_result(range(1, 11))))
    server.queue("/dl/1", Answer(403, b"<Error>expired</Error>"), Answer(200, batch_result(range(11, 21))))
    server.queue("/dl/2", Answer(200, batch_result(range(21, 24), relative_to=21)))  # batch-relative pages
    response = asyncio.run(api.parse(doc(pages=23), ParseOptions()))
    assert [a.path for a in server.arrivals].count(path) == 4  # 3 polls + 1 for fresh URLs
    assert "authorization" not in {k.lower() for a in server.arrivals_for("/dl/0") for k in a.headers}
    assert [e["page"] for e in response["elements"]] == list(range(1, 24))
    assert [e["id"] for e in response["elements"]] == list(range(23))
    assert response["elements"][22]["content"]["html"] == "<p id='22' data-category='paragraph'>p23</p>"
    assert response["content"]["text"].split("\n") == [f"p{i}" for i in range(1, 24)]
    assert response["usage"] == {"pages": 23} and response["request_id"] == "req-1"
    assert len(server.arrivals_for("/dl/1")) == 2 and len(server.arrivals_for("/dl/0")) == 1


def test_failed_async_job_raises_its_reason(server):
    api = DocumentParseApi(make_http(server.url), poll=FAST_POLL)
    server.queue(ASYNC, Answer(200, {"request_id": "bad"}))
    server.queue("/v1/document-digitization/requests/bad",
                 Answer(200, {"id": "bad", "status": "failed", "failure_message": "too many pages: 3000"}))
    with pytest.raises(UpstageJobFailed, match="too many pages: 3000"):
        asyncio.run(api.parse_async(doc(pages=3000), ParseOptions()))


def test_merge_keeps_requested_formats_and_billing():
    merged = merge_batches([({"id": 0, "start_page": 1}, batch_result(range(1, 3)))], total_pages=2)
    assert set(merged["content"]) == {"html", "markdown", "text"}
    assert json.dumps(merged)  # plain JSON, storable as is
    assert merged["usage"]["pages"] == 2
