"""gpu_executor: real step processes, two declared devices, exclusivity proven from timestamps."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from dagster import DagsterEventType, execute_job, reconstructable

from upstage_assets.defs.executors import CPU_FALLBACK_WARNING, DevicePool
from upstage_assets_tests.execution.gpu_jobs import four_gpu_steps_job


def _run_config(out_dir, devices, lock_dir, hold=0.5):
    ops = {name: {"config": {"out_dir": str(out_dir), "hold_seconds": hold, "meet": 2 if name != "cpu_op" else 1}}
           for name in ("gpu_0", "gpu_1", "gpu_2", "gpu_3", "cpu_op")}
    return {"ops": ops, "execution": {"config": {"devices": devices, "lock_dir": str(lock_dir),
                                                  "sleep_seconds": 0.1}}}


def _records(out_dir):
    return {r["op"]: r for r in (json.loads(p.read_text()) for p in out_dir.glob("*.json"))}


@pytest.mark.slow
def test_each_gpu_step_gets_one_device_and_no_device_is_shared(tmp_path, dagster_instance):
    out_dir = tmp_path / "records"
    out_dir.mkdir()
    with execute_job(reconstructable(four_gpu_steps_job), instance=dagster_instance,
                     run_config=_run_config(out_dir, ["0", "1"], tmp_path / "locks")) as result:
        assert result.success

    records = _records(out_dir)
    gpu = [records[f"gpu_{i}"] for i in range(4)]
    assert all(r["cuda_visible_devices"] in {"0", "1"} for r in gpu), gpu
    assert all(r["device"] == "cuda:0" for r in gpu), "inside the child its one device is cuda:0"
    assert len({r["pid"] for r in records.values()}) == 5, "every step in its own process"
    assert {r["cuda_visible_devices"] for r in gpu} == {"0", "1"}, "both devices were used"
    for device in ("0", "1"):
        spans = sorted((r["start"], r["end"]) for r in gpu if r["cuda_visible_devices"] == device)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"two steps overlapped on device {device}: {spans}"
    # Each GPU step waited for a second one to start: the two devices were busy at the same time.
    assert any(a["start"] < b["end"] and b["start"] < a["end"]
               for a in gpu for b in gpu if a is not b), "the two devices were used in parallel"
    cpu = records["cpu_op"]
    assert cpu["cuda_visible_devices"] == os.environ.get("CUDA_VISIBLE_DEVICES"), "non-GPU step untouched"
    assert cpu["device"] == os.environ.get("UPSTAGE_ASSETS_DEVICE")


@pytest.mark.slow
def test_without_devices_gpu_steps_run_on_the_cpu_with_a_warning(tmp_path, dagster_instance):
    out_dir = tmp_path / "records"
    out_dir.mkdir()
    config = _run_config(out_dir, [], tmp_path / "locks", hold=0.0)
    config["ops"] = {"gpu_0": {"config": {"out_dir": str(out_dir), "hold_seconds": 0.0}}}
    with execute_job(reconstructable(four_gpu_steps_job), instance=dagster_instance, run_config=config,
                     op_selection=["gpu_0"]) as result:
        assert result.success
        run_id = result.run_id

    record = _records(out_dir)["gpu_0"]
    assert record["device"] == "cpu" and record["cuda_visible_devices"] == ""
    messages = [e.message for e in dagster_instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)]
    assert any(CPU_FALLBACK_WARNING in (m or "") for m in messages), messages


def test_a_device_lease_lives_exactly_as_long_as_the_child_holding_it(tmp_path):
    pool = DevicePool(["0", "1"], tmp_path / "locks", poll_seconds=0.01)
    first, second = pool.try_acquire(), pool.try_acquire()
    assert first and second and {first.device, second.device} == {"0", "1"}
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], pass_fds=(first.fd,))
    first.release()
    second.release()
    third = pool.try_acquire()
    assert third is not None and third.device == "1", "device 0 is still held by the child"
    assert pool.try_acquire() is None, "both devices busy"
    child.kill()
    child.wait()
    fourth = pool.acquire(timeout=20)  # raises if the dead child's lease were never freed
    assert fourth.device == "0", "a killed child frees its device"
    third.release()
    fourth.release()


@pytest.mark.slow
def test_the_document_job_runs_its_step_through_the_gpu_executor(tmp_path, data_root, dagster_instance):
    from upstage_assets.dagster_compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
    from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
    from upstage_assets_tests.execution.documents import register_documents, write_invoices
    from upstage_assets_tests.execution.gpu_jobs import process_documents_local

    write_invoices(data_root / "inbox", 3)
    keys = register_documents(data_root / "inbox", data_root / "outputs", dagster_instance)
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    config = {"execution": {"config": {"devices": [], "lock_dir": str(tmp_path / "locks"), "sleep_seconds": 0.1}}}
    with execute_job(reconstructable(process_documents_local), instance=dagster_instance, tags=tags,
                     run_config=config) as result:
        assert result.success
        run_id = result.run_id
    assert dagster_instance.get_materialized_partitions(VALIDATED_DOCUMENTS) == set(keys)
    starting = dagster_instance.all_logs(run_id, of_type=DagsterEventType.STEP_WORKER_STARTING)
    assert len(starting) == 1 and "cpu (fallback)" in (starting[0].message or "")
    messages = [e.message for e in dagster_instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)]
    assert any(CPU_FALLBACK_WARNING in (m or "") for m in messages)


def test_training_the_learned_extractor_is_gpu_work():
    """Seen on a GPU host (bench/results/gpu.md): untagged, kie_model got no device from the executor and
    trained on the CPU beside an idle GPU."""
    from upstage_assets.defs.executors import is_gpu_step
    from upstage_assets.defs.learned_kie import kie_model

    assert is_gpu_step(kie_model.op.tags)
