"""Sync Document Parse and OCR with real engine results, on every route form and wire spelling."""

from __future__ import annotations

import httpx
import pytest

from upstage_assets_tests.emulator.conftest import make_pdf

PARSE_ROUTES = ["/v1/document-digitization", "/v1/document-ai/document-parse", "/v1/document-ai/layout-analysis"]


def post_parse(client: httpx.Client, document: bytes, path: str = "/v1/document-digitization",
               mime: str = "application/pdf", **fields: str) -> httpx.Response:
    return client.post(path, data={"model": "document-parse", **fields},
                       files={"document": ("doc", document, mime)})


@pytest.mark.parametrize("path", PARSE_ROUTES)
def test_parse_routes_answer_the_document_parse_shape(client, pdf_1page, path):
    response = post_parse(client, pdf_1page, path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["api"] == "2.0" and body["model"] == "document-parse-260930"
    assert set(body["content"]) == {"html", "markdown", "text"}
    assert "INVOICE" in body["content"]["html"]
    assert body["usage"]["pages"] == 1
    elements = body["elements"]
    assert [e["id"] for e in elements] == list(range(len(elements)))
    assert all(e["page"] == 1 for e in elements)
    for element in elements:
        points = element["coordinates"]
        assert len(points) == 4 and all(0.0 <= p["x"] <= 1.0 and 0.0 <= p["y"] <= 1.0 for p in points)


def test_wire_quirks_reach_the_engine(client):
    document = make_pdf(2)
    body = post_parse(client, document, output_formats="['markdown', 'text']", coordinates="False",
                      ocr="auto", base64_encoding="[]").json()
    assert "INVOICE" in body["content"]["text"] and "INVOICE" in body["content"]["markdown"]
    assert body["content"]["html"] == ""
    assert all("coordinates" not in e for e in body["elements"])
    assert {e["page"] for e in body["elements"]} == {1, 2}
    assert body["usage"]["pages"] == 2
    json_spelling = post_parse(client, document, output_formats='["html"]', coordinates="TRUE").json()
    assert json_spelling["content"]["html"] and all("coordinates" in e for e in json_spelling["elements"])


def test_base64_crops_only_for_the_requested_categories_and_extra_options_accepted(client, pdf_1page):
    import base64

    body = post_parse(client, pdf_1page, base64_encoding="['paragraph']", mode="enhanced",
                      chart_recognition="False", merge_multipage_tables="True").json()
    paragraphs = [e for e in body["elements"] if e["category"] == "paragraph"]
    assert paragraphs
    for element in paragraphs:
        assert base64.b64decode(element["base64_encoding"]).startswith((b"\x89PNG", b"\xff\xd8\xff"))
    plain = post_parse(client, pdf_1page, base64_encoding='["table"]').json()
    assert all("base64_encoding" not in e for e in plain["elements"] if e["category"] != "table")


def test_model_snapshots_and_aliases_are_accepted(client, pdf_1page):
    for model in ("document-parse", "document-parse-260930", "document-parse-nightly"):
        response = client.post("/v1/document-digitization", data={"model": model},
                               files={"document": ("d.pdf", pdf_1page)})
        assert response.status_code == 200, (model, response.text)
        assert response.json()["model"] == "document-parse-260930"


def test_image_is_parsed_with_ocr(client, png_image):
    body = post_parse(client, png_image, mime="image/png", output_formats='["text"]').json()
    assert "HELLO" in body["content"]["text"].upper()


@pytest.mark.parametrize("path, fields", [
    ("/v1/document-digitization", {"model": "ocr"}),
    ("/v1/document-ai/ocr", {}),
    ("/v1/document-ai/ocr", {"model": "ocr", "schema": "clova"}),
])
def test_ocr_answers_pixel_vertices(client, png_image, path, fields):
    response = client.post(path, data=fields, files={"document": ("a.png", png_image, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["apiVersion"] == "1.1" and body["modelVersion"] == "ocr-260930"
    assert body["numBilledPages"] == 1 and body["metadata"]["pages"][0]["page"] == 1
    page = body["pages"][0]
    assert page["id"] == 0 and page["width"] == 400 and page["height"] == 120
    assert "HELLO" in body["text"].upper()
    vertices = page["words"][0]["boundingBox"]["vertices"]
    assert len(vertices) == 4 and all(isinstance(v["x"], int) and isinstance(v["y"], int) for v in vertices)
    assert any(v["x"] > 1 for v in vertices)  # pixels, not relative


def test_latency_per_page_is_a_floor(start_emulator):
    import time

    from upstage_assets_tests.emulator.conftest import AUTH

    emulator = start_emulator(latency_per_page_s=0.25)
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=60) as client:
        document = make_pdf(3)
        post_parse(client, document)  # warm the engine and the result cache
        started = time.monotonic()
        assert post_parse(client, document).status_code == 200
        assert time.monotonic() - started >= 0.75


@pytest.mark.serial  # poll latencies against the parse's length
@pytest.mark.slow
def test_engine_work_does_not_block_other_requests(start_emulator):
    """OCR of a forced-OCR PDF runs in the thread pool while polls are answered promptly.

    The parse is made long by construction (four pages OCR'd with the result cache off), and
    every bound is relative to how long that parse took here, so a faster or busier machine
    changes the figures, not the verdict."""
    import threading
    import time

    from upstage_assets_tests.emulator.conftest import AUTH

    emulator = start_emulator(result_cache_size=0)
    document = make_pdf(4)
    done = threading.Event()
    outcome: dict[str, float | int] = {}

    def heavy() -> None:
        started = time.monotonic()
        with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=300) as client:
            outcome["status"] = post_parse(client, document, ocr="force").status_code
        outcome["seconds"] = time.monotonic() - started
        done.set()

    threading.Thread(target=heavy).start()
    poll_latencies = []
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        while not done.is_set():
            started = time.monotonic()
            assert client.get("/v1/document-digitization/requests").status_code == 200
            poll_latencies.append(time.monotonic() - started)
            time.sleep(0.05)
    assert outcome["status"] == 200
    # Had the parse run on the event loop, the first poll would wait for the whole parse and
    # there would be one or two polls in all. Threads still share the GIL and two busy cores,
    # so allow an occasional slow poll, never one near the parse's length.
    parse_seconds = float(outcome["seconds"])
    poll_latencies.sort()
    assert len(poll_latencies) >= 5, (poll_latencies, parse_seconds)
    assert poll_latencies[int(len(poll_latencies) * 0.9)] < parse_seconds / 6, (poll_latencies, parse_seconds)
    assert poll_latencies[-1] < parse_seconds / 3, (poll_latencies[-1], parse_seconds)


@pytest.mark.slow
def test_process_pool_engine_gives_the_same_answers(start_emulator, pdf_1page):
    import pickle

    from upstage_assets.emulator.api_errors import ApiError
    from upstage_assets_tests.emulator.conftest import AUTH

    error = pickle.loads(pickle.dumps(ApiError(422, "corrupted document: x", "corrupted_document")))
    assert (error.status, error.message, error.code) == (422, "corrupted document: x", "corrupted_document")
    threaded = start_emulator()
    in_processes = start_emulator(engine_executor="process", engine_workers=1)
    answers = []
    for emulator in (threaded, in_processes):
        with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=120) as client:
            response = post_parse(client, pdf_1page, output_formats='["text"]')
            assert response.status_code == 200, response.text
            answers.append(response.json())
    assert answers[0] == answers[1]


def test_an_engine_crash_answers_500_with_an_error_body_and_the_server_lives_on(start_emulator, monkeypatch):
    """One request whose parse raises something unforeseen gets a 500 in the API's error shape."""
    from upstage_assets.local_engine import document_parse
    from upstage_assets_tests.emulator.conftest import AUTH

    real_parse = document_parse.parse_document
    poison = make_pdf(1, lines=("POISON",))

    def crashing_parse(data: bytes, **kwargs):
        if data == poison:
            raise KeyError("a bug in the engine")
        return real_parse(data, **kwargs)

    monkeypatch.setattr(document_parse, "parse_document", crashing_parse)
    emulator = start_emulator(result_cache_size=0, engine_executor="thread")
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=60) as client:
        crashed = post_parse(client, poison)
        assert crashed.status_code == 500
        error = crashed.json()["error"]
        assert error["type"] == "server_error" and "KeyError" in error["message"]
        assert post_parse(client, make_pdf(1)).status_code == 200
