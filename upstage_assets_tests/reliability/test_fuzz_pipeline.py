"""Property: any bytes mutated from a real PDF end done or failed with a reason, never in limbo.

Seeded mutations of the robustness corpus's small PDFs go through the whole pipeline (local
backend, real Dagster runs on a temporary instance). Whatever a document does, the step must not
crash: it ends with a row (validated or quarantined) or a failure record with a code and a message,
and nothing is left unaccounted for. ``make test`` runs a bounded count; ``make reliability`` sets
``UPSTAGE_FUZZ_COUNT`` higher. A failure names the seed and the file (the mutations in its name).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster import materialize

from upstage_assets.defs.pipeline.document_pipeline import build_document_pipeline
from upstage_assets.defs.resources import build_resources
from upstage_assets.ingest.folder import register_objects
from upstage_assets.operations.backlog import unfinished_documents
from upstage_assets.operations.reporting import read_tables
from upstage_assets.settings import Settings
from upstage_assets.storage.failures import read_failures
from upstage_assets.storage.object_store import LocalObjectStore, ObjectInfo
from upstage_assets_tests.reliability.corpus import CORPUS, corpus_available
from upstage_assets_tests.reliability.mutations import mutated_documents

COUNT = int(os.environ.get("UPSTAGE_FUZZ_COUNT", "12"))
SEED = int(os.environ.get("UPSTAGE_FUZZ_SEED", "20261125"))
MAX_SOURCE_BYTES = 300 * 1024  # small sources keep the local engine's time bounded
BATCH = 25


def _sources() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*.pdf") if p.stat().st_size <= MAX_SOURCE_BYTES)


def _row_ids(output: Path) -> set[str]:
    ids: set[str] = set()
    for area in ("tables", "quarantine"):
        for table in read_tables(output, area).values():
            ids |= set(table.column("document_id").to_pylist())
    return ids


@pytest.mark.slow
@pytest.mark.skipif(not corpus_available(), reason="../shared/corpus/robustness is not beside the repository")
def test_mutated_pdfs_end_done_or_failed_with_a_reason(data_root, dagster_instance):
    inbox = LocalObjectStore(data_root / "inbox")
    names = {}
    for name, data in mutated_documents(_sources(), COUNT, SEED):
        inbox.write_bytes(name, data)
        names[name] = data
    resources = build_resources(Settings.from_env(backend="local"))
    storage = resources["storage"]
    registered = register_objects(inbox, storage.registry(), [ObjectInfo(n, len(d), "1") for n, d in names.items()],
                                  default_schema="invoice")
    keys = list(dict.fromkeys(r.document_id for r in registered.new_records))
    dagster_instance.add_dynamic_partitions("documents", keys)
    order = dagster_instance.get_dynamic_partitions("documents")
    for start in range(0, len(order), BATCH):
        batch = order[start:start + BATCH]
        result = materialize([build_document_pipeline(Settings())], instance=dagster_instance, resources=resources,
                             raise_on_error=False, run_config={"ops": {"document_pipeline": {"config": {
                                 "max_pages": 4, "max_pixels_per_page": 20_000_000}}}},
                             tags={"dagster/asset_partition_range_start": batch[0],
                                   "dagster/asset_partition_range_end": batch[-1]})
        for event in result.get_step_failure_events():
            message = event.step_failure_data.error.message if event.step_failure_data.error else ""
            # The only way the step may fail: its own summary of recorded document failures.
            assert "documents failed; the other documents are materialized" in message, (SEED, message[:2000])

    output = data_root / "outputs"
    failures = {f["document_id"]: f for f in read_failures(LocalObjectStore(output), storage.layout).to_pylist()}
    rows = _row_ids(output)
    by_id = {r.document_id: r.filename for r in registered.new_records}
    for document_id in keys:
        if document_id in rows:
            continue
        failure = failures.get(document_id)
        assert failure is not None, f"seed {SEED}: {by_id[document_id]} has neither a row nor a failure"
        assert failure["error_code"] and failure["message"], failure
    assert unfinished_documents(dagster_instance, storage) == []
    internal = sorted(f"{by_id.get(d, d)}: {f['message']}" for d, f in failures.items()
                      if f["error_code"] == "internal_error")
    print(f"fuzz seed={SEED} documents={len(keys)} rows={len(rows & set(keys))} failed={len(failures)} "
          f"internal_errors={len(internal)}")
    for line in internal:
        print("  internal_error:", line)
