"""Pools and queue limits: the local instance config loads, and the pipeline step is in the right pool."""

from __future__ import annotations

from upstage_assets.definitions import build_definitions
from upstage_assets.defs.executors import executor_for_settings, gpu_executor
from upstage_assets.defs.pipeline.document_pipeline import (
    GPU_POOL,
    UPSTAGE_API_POOL,
    build_document_pipeline,
    pipeline_pool_and_tags,
)
from upstage_assets.operations.local_instance import ensure_pool_limits, local_instance
from upstage_assets.settings import Settings


def test_local_instance_has_run_limits_per_backfill_pools_and_slot_freeing(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # local_instance sets it; restored afterwards
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # a host with two GPUs
    instance = local_instance(tmp_path / "home")

    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None and queue.max_concurrent_runs == 5
    assert {"key": "dagster/backfill", "value": {"applyLimitPerUniqueValue": True}, "limit": 4} \
        in queue.tag_concurrency_limits
    storage = instance.event_log_storage
    assert {k: storage.get_concurrency_info(k).slot_count for k in storage.get_concurrency_keys()} == \
        {GPU_POOL: 2, UPSTAGE_API_POOL: 4}
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 60

    storage.set_concurrency_slots(GPU_POOL, 7)  # an operator's change survives the next start
    ensure_pool_limits(instance)
    assert storage.get_concurrency_info(GPU_POOL).slot_count == 7


def test_the_pipeline_step_is_in_the_pool_of_its_backend():
    assert pipeline_pool_and_tags(Settings(backend="local")) == (GPU_POOL, {"gpu": "true"})
    assert pipeline_pool_and_tags(Settings(backend="upstage")) == (UPSTAGE_API_POOL, {})
    assert pipeline_pool_and_tags(Settings(backend="emulator")) == (UPSTAGE_API_POOL, {})
    document_pipeline = build_document_pipeline(Settings(backend="local"))
    assert document_pipeline.op.pool == GPU_POOL and document_pipeline.op.tags.get("gpu") == "true"
    assert build_definitions(Settings.from_env(backend="local")).resolve_job_def("process_documents").executor_def is gpu_executor
    assert executor_for_settings(Settings(backend="upstage")).name == "in_process"
