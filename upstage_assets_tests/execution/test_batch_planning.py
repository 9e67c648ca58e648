"""Planning runs for wanted documents: contiguous ranges of the partition order, the healthy
documents inside a range skipped (never processed again), at most N wanted per run."""

import pytest

from upstage_assets.defs.pipeline.resume import ONLY_DOCUMENTS_TAG, RESUME_TAG, documents_wanted
from upstage_assets.operations.recovery import plan_batches

ORDER = [f"d{i:02d}" for i in range(20)]


def _processed(batch, resume=True):
    """The documents a run of this batch processes: its range narrowed by the run's tags."""
    span = ORDER[ORDER.index(batch.start):ORDER.index(batch.end) + 1]
    return documents_wanted(batch.tags("r", "retry", resume), span)


def test_contiguous_failures_share_runs_of_at_most_the_batch_size():
    batches = plan_batches(ORDER, ORDER[2:9], batch_size=3)
    assert [b.documents for b in batches] == [tuple(ORDER[2:5]), tuple(ORDER[5:8]), (ORDER[8],)]
    assert all(not b.has_gaps and b.span == len(b.documents) for b in batches)
    assert [_processed(b) for b in batches] == [list(b.documents) for b in batches]


def test_scattered_failures_get_one_run_each_without_a_gap_allowance():
    batches = plan_batches(ORDER, ["d01", "d05", "d09"], batch_size=50, max_gap=0)
    assert [(b.start, b.end) for b in batches] == [("d01", "d01"), ("d05", "d05"), ("d09", "d09")]
    assert all(ONLY_DOCUMENTS_TAG not in b.tags("r", "retry", True) for b in batches)


def test_scattered_failures_share_a_run_that_skips_the_healthy_documents_between_them():
    (batch,) = plan_batches(ORDER, ["d01", "d05", "d09"], batch_size=50)
    assert (batch.start, batch.end, batch.span) == ("d01", "d09", 9) and batch.has_gaps
    assert _processed(batch) == ["d01", "d05", "d09"], "d02..d08 are skipped, not re-processed"


def test_a_gap_allowance_bounds_the_skipped_documents_and_does_not_count_them_in_the_batch():
    batches = plan_batches(ORDER, ["d01", "d03", "d09", "d10"], batch_size=50, max_gap=2)
    assert [(b.start, b.end, len(b.documents)) for b in batches] == [("d01", "d03", 2), ("d09", "d10", 2)]
    assert batches[0].span == 3 and _processed(batches[0]) == ["d01", "d03"], "d02 is skipped, not re-run"
    by_span = plan_batches(ORDER, ["d01", "d03", "d05"], batch_size=3, max_span=3, max_gap=1)
    assert [b.documents for b in by_span] == [("d01", "d03"), ("d05",)]
    by_count = plan_batches(ORDER, ["d01", "d03", "d05"], batch_size=2, max_gap=1)
    assert [b.documents for b in by_count] == [("d01", "d03"), ("d05",)]


def test_unknown_keys_are_refused_and_order_follows_the_instance():
    assert [b.documents for b in plan_batches(ORDER, ["d07", "d06"])] == [("d06", "d07")]
    with pytest.raises(ValueError, match="not partitions"):
        plan_batches(ORDER, ["zz", "d07"])


def test_run_tags_address_the_range():
    (batch,) = plan_batches(ORDER, ["d03", "d04"])
    tags = batch.tags("r", "retry", resume=False)
    assert tags["dagster/asset_partition_range_start"] == "d03"
    assert tags["dagster/asset_partition_range_end"] == "d04"
    assert tags["upstage_assets/documents"] == "2"
    assert ONLY_DOCUMENTS_TAG not in tags and RESUME_TAG not in tags


def test_only_a_run_with_gaps_keeps_its_step_alive_on_document_errors():
    (gap_free,) = plan_batches(ORDER, ["d03", "d04"])
    assert gap_free.run_config() is None
    (gapped,) = plan_batches(ORDER, ["d03", "d06"])
    config = gapped.run_config({"loggers": {}})
    assert config is not None and config["loggers"] == {}
    assert config["ops"]["document_pipeline"]["config"]["fail_step_on_document_errors"] is False
    request = gapped.run_request("nightly", "retry", resume=True, run_key_prefix="reprocess:day")
    assert request.run_key == "reprocess:day:d03:d06" and request.tags[RESUME_TAG] == "true"
    assert request.tags[ONLY_DOCUMENTS_TAG] == "d03,d06"
    assert request.run_config["ops"] == config["ops"]


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        plan_batches(ORDER, ORDER, batch_size=0)
    with pytest.raises(ValueError):
        plan_batches(ORDER, ORDER, max_gap=-1)
