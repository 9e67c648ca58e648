"""A document that hangs or crashes the local engine fails alone; the batch goes on.

Real Dagster runs over the real pipeline with the local backend. The faults are injected in
the engine's worker processes through a preloaded test module (``engine_faults``): no real
file reliably hangs or crashes pdfium/onnxruntime, so markers in the bytes trigger the effect.
"""

import pytest
from dagster import AssetKey, materialize

from upstage_assets.defs.pipeline.document_pipeline import build_document_pipeline
from upstage_assets.defs.resources import build_resources
from upstage_assets.settings import Settings
from upstage_assets.storage.failures import read_failures
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets_tests.local_engine.engine_faults import EXIT, HANG, KILL
from upstage_assets_tests.pipeline.test_bad_input import pdf_bytes, register

RAW, PARSED = AssetKey("raw_documents"), AssetKey("parsed_layouts")

pytestmark = pytest.mark.slow


def test_hanging_and_crashing_documents_fail_alone_as_retryable(data_root, dagster_instance, monkeypatch):
    monkeypatch.setenv("UPSTAGE_ASSETS_ENGINE_PRELOAD", "upstage_assets_tests.local_engine.engine_faults")
    monkeypatch.setenv("UPSTAGE_ASSETS_ENGINE_TIMEOUT_S", "8")
    good = pdf_bytes(1)
    files = {"good.pdf": good, "hangs.pdf": good + HANG + b"\n", "exits.pdf": good + EXIT + b"\n",
             "killed.pdf": good + KILL + b"\n", "good-too.pdf": pdf_bytes(2)}
    ids = register(data_root, files)
    keys = list(ids.values())
    dagster_instance.add_dynamic_partitions("documents", keys)

    resources = build_resources(Settings.from_env(backend="local"))
    result = materialize([build_document_pipeline(Settings())], selection=[RAW, PARSED], instance=dagster_instance,
                         resources=resources, raise_on_error=False,
                         tags={"dagster/asset_partition_range_start": keys[0],
                               "dagster/asset_partition_range_end": keys[-1]})
    assert not result.success  # the failed documents are reported...
    parsed = dagster_instance.get_materialized_partitions(PARSED)
    assert parsed == {ids["good.pdf"], ids["good-too.pdf"]}  # ...and the others were parsed

    failures = {r["document_id"]: r for r in read_failures(LocalObjectStore(data_root / "outputs"),
                                                            resources["storage"].layout).to_pylist()}
    assert failures[ids["hangs.pdf"]]["error_code"] == "engine_timeout"
    assert "8 s" in failures[ids["hangs.pdf"]]["message"]
    assert failures[ids["exits.pdf"]]["error_code"] == "engine_crashed"
    assert failures[ids["killed.pdf"]]["error_code"] == "engine_crashed"
    assert "SIGKILL" in failures[ids["killed.pdf"]]["message"]
    assert all(failures[ids[name]]["retryable"] for name in ("hangs.pdf", "exits.pdf", "killed.pdf"))
    assert all(f["stage"] == "parsed_layouts" for f in failures.values())
