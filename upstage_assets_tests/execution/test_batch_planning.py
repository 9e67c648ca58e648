"""Grouping failed documents into runs: contiguous ranges of the partition order, at most N each."""

import pytest

from upstage_assets.retry import chunk_partitions

ORDER = [f"d{i:02d}" for i in range(20)]


def test_contiguous_failures_share_runs_of_at_most_the_batch_size():
    chunks = chunk_partitions(ORDER, ORDER[2:9], max_per_run=3)
    assert [c.keys for c in chunks] == [tuple(ORDER[2:5]), tuple(ORDER[5:8]), (ORDER[8],)]
    assert all(c.wanted == len(c.keys) for c in chunks)


def test_scattered_failures_get_one_run_each_without_a_gap_allowance():
    chunks = chunk_partitions(ORDER, ["d01", "d05", "d09"], max_per_run=50)
    assert [(c.start, c.end) for c in chunks] == [("d01", "d01"), ("d05", "d05"), ("d09", "d09")]


def test_a_gap_allowance_bridges_healthy_documents_and_counts_them_in_the_batch():
    chunks = chunk_partitions(ORDER, ["d01", "d03", "d09", "d10"], max_per_run=50, max_gap=2)
    assert [(c.start, c.end, c.wanted) for c in chunks] == [("d01", "d03", 2), ("d09", "d10", 2)]
    assert chunks[0].keys == ("d01", "d02", "d03")  # d02 is re-run too
    tight = chunk_partitions(ORDER, ["d01", "d03", "d05"], max_per_run=3, max_gap=1)
    assert [c.keys for c in tight] == [("d01", "d02", "d03"), ("d05",)]


def test_keys_unknown_to_the_instance_are_left_out_and_order_follows_the_instance():
    chunks = chunk_partitions(ORDER, ["zz", "d07", "d06"], max_per_run=50)
    assert [c.keys for c in chunks] == [("d06", "d07")]


def test_run_tags_address_the_range():
    (chunk,) = chunk_partitions(ORDER, ["d03", "d04"])
    tags = chunk.tags("retry")
    assert tags["dagster/asset_partition_range_start"] == "d03"
    assert tags["dagster/asset_partition_range_end"] == "d04"
    assert tags["upstage_assets/documents"] == "2"


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        chunk_partitions(ORDER, ORDER, max_per_run=0)
