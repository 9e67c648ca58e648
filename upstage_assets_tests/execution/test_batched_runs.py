"""Batching: 200 documents become ceil(200/50) runs, every document once in the Parquet tables."""

from __future__ import annotations

import time

import pytest
from dagster import DagsterRunStatus

from upstage_assets.definitions import build_definitions
from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
from upstage_assets.defs.pipeline.resume import ONLY_DOCUMENTS_TAG, RESUME_TAG
from upstage_assets.operations.recovery import plan_batches
from upstage_assets.settings import Settings
from upstage_assets_tests.execution.documents import (
    materialization_counts,
    parquet_rows_by_document,
    register_documents,
    write_invoices,
)
from upstage_assets_tests.launching import launch_batched_runs


@pytest.mark.slow
def test_two_hundred_documents_in_four_runs(data_root, dagster_instance):
    write_invoices(data_root / "inbox", 200, seed=3)
    keys = register_documents(data_root / "inbox", data_root / "outputs", dagster_instance)
    assert len(keys) == 200

    seen: list[int] = []
    started = time.perf_counter()
    run_ids = launch_batched_runs(dagster_instance, keys, 50, defs=build_definitions(Settings.from_env(backend="local")),
                                  on_run=lambda batch, run_id, ok: seen.append(len(batch.documents)))
    seconds = time.perf_counter() - started

    assert len(run_ids) == 4 and seen == [50, 50, 50, 50]
    runs = [dagster_instance.get_run_by_id(r) for r in run_ids]
    assert all(r.status == DagsterRunStatus.SUCCESS for r in runs)
    assert all(ONLY_DOCUMENTS_TAG not in r.tags for r in runs), "contiguous keys need no document list"
    assert materialization_counts(dagster_instance, VALIDATED_DOCUMENTS, keys) == dict.fromkeys(keys, 1)
    assert parquet_rows_by_document(data_root / "outputs") == dict.fromkeys(keys, 1)
    print(f"\n[batched] 200 documents, {len(run_ids)} runs, {seconds:.1f} s ({200 / seconds:.1f} documents/s)")


def test_plan_batches_cover_scattered_keys_in_few_ranges():
    order = [f"k{i:03d}" for i in range(100)]
    wanted = order[::3]  # 34 scattered keys
    batches = plan_batches(order, wanted, batch_size=10, max_span=100)
    assert [len(b.documents) for b in batches] == [10, 10, 10, 4]
    assert [d for b in batches for d in b.documents] == wanted, "each wanted key once, in order"
    for batch in batches:
        span = order[order.index(batch.start):order.index(batch.end) + 1]
        assert set(batch.documents) <= set(span) and batch.span == len(span) and batch.has_gaps
        tags = batch.tags("r", "test", resume=True)
        assert tags[ONLY_DOCUMENTS_TAG].split(",") == list(batch.documents) and tags[RESUME_TAG] == "true"


def test_plan_batches_bound_the_span_of_a_range():
    order = [f"k{i:03d}" for i in range(100)]
    batches = plan_batches(order, [order[0], order[50], order[99]], batch_size=50, max_span=40)
    assert [b.documents for b in batches] == [(order[0],), (order[50],), (order[99],)]
    assert plan_batches(order, order[:20], batch_size=50)[0].has_gaps is False
    with pytest.raises(ValueError, match="not partitions"):
        plan_batches(order, ["unknown"], batch_size=5)
