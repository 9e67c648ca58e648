"""Benchmark mode: results precomputed through the warm routes, then served from memory, with the
gate (limits, 429s, latency, stats) exactly as without it."""

from __future__ import annotations

import gc
import time

import httpx

from upstage_assets.emulator.settings import EmulatorSettings, parse_setting
from upstage_assets_tests.emulator.conftest import AUTH, make_pdf
from upstage_assets_tests.emulator.test_extraction import chat_body

PARSE = "/v1/document-digitization"
EXTRACT = "/v1/information-extraction"
WARM = "/__emulator__/warm"


def _parse(client: httpx.Client, path: str, document: bytes) -> httpx.Response:
    return client.post(path, data={"model": "document-parse"},
                       files={"document": ("d.pdf", document, "application/pdf")})


def test_warmed_requests_are_answered_without_the_engine_and_identically(start_emulator):
    emulator = start_emulator(benchmark_mode=True)
    engine = emulator.app.state.emulator.engine
    documents = [make_pdf(1, lines=("INVOICE", f"Invoice No: INV-{i:03d}", "Total: 42.50")) for i in range(3)]
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=60) as client:
        warmed = [(_parse(client, WARM + PARSE, d).json(), client.post(WARM + EXTRACT, json=chat_body(d)).json())
                  for d in documents]
        computed = engine.computed
        assert computed == 9  # per document: its parse, the extraction's own full parse, the extraction
        assert client.get("/__emulator__/stats").json()["requests_total"] == 0  # warm-up is not API traffic
        for document, (parsed, extracted) in zip(documents, warmed, strict=True):
            again = _parse(client, PARSE, document).json()
            assert again["elements"] == parsed["elements"] and again["content"] == parsed["content"]
            chat = client.post(EXTRACT, json=chat_body(document)).json()
            assert chat["choices"] == extracted["choices"]
        assert engine.computed == computed  # every answer came from memory


def test_warm_up_moves_its_results_out_of_the_collectors_reach(start_emulator):
    """Full collections over the warmed results stalled the server 30-110 ms, which bunched the arrivals
    it stamps and turned a correctly paced client's requests into 429s."""
    emulator = start_emulator(benchmark_mode=True)
    gc.unfreeze()
    try:
        with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=60) as client:
            assert _parse(client, WARM + PARSE, make_pdf(1)).status_code == 200
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_benchmark_mode_keeps_limits_latency_and_429s(start_emulator):
    emulator = start_emulator(benchmark_mode=True, rps_limits={"document-parse": 2}, latency_s=0.1)
    document = make_pdf(1)
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=60) as client:
        assert [_parse(client, WARM + PARSE, document).status_code for _ in range(4)] == [200] * 4  # no limit
        started = time.monotonic()
        statuses = [_parse(client, PARSE, document).status_code for _ in range(3)]
        held = time.monotonic() - started
        stats = client.get("/__emulator__/stats").json()
    assert statuses == [200, 200, 429]
    assert stats["rate_limited_429"]["rate_limit"] == 1
    assert held >= 0.2  # the two admitted requests were each held for the 0.1 s latency floor


def test_warm_routes_exist_only_in_benchmark_mode(start_emulator):
    emulator = start_emulator()
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=60) as client:
        assert _parse(client, WARM + PARSE, make_pdf(1)).status_code == 404


def test_benchmark_mode_reads_from_text():
    assert parse_setting("benchmark_mode", "true") is True
    assert parse_setting("benchmark_mode", "0") is False
    assert EmulatorSettings.from_env({"UPSTAGE_EMULATOR_BENCHMARK_MODE": "yes"}).benchmark_mode is True
