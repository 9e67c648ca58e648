"""The pinned Dagster still has every private name the project uses, with the shape it relies on.

When this fails after a Dagster upgrade, fix ``upstage_assets/dagster_compat.py`` (the only module
that imports ``dagster._...``) and nothing else.
"""

import inspect
from importlib.metadata import version

import upstage_assets.dagster_compat as compat


def test_every_private_name_is_still_there():
    missing = [name for name in compat.__all__ if not hasattr(compat, name)]
    assert not missing, f"Dagster {version('dagster')} no longer has {missing}"


def test_the_tags_keep_their_values():
    """Run tags written by older runs must keep meaning the same."""
    assert compat.ASSET_PARTITION_RANGE_START_TAG == "dagster/asset_partition_range_start"
    assert compat.ASSET_PARTITION_RANGE_END_TAG == "dagster/asset_partition_range_end"
    assert compat.BACKFILL_ID_TAG == "dagster/backfill"
    assert compat.DATA_VERSION_TAG == "dagster/data_version"


def test_the_step_handler_interface_is_unchanged():
    abstract = {name for name, member in inspect.getmembers(compat.StepHandler)
                if getattr(member, "__isabstractmethod__", False)}
    assert abstract == {"name", "launch_step", "check_step_health", "terminate_step"}
    params = inspect.signature(compat.StepDelegatingExecutor.__init__).parameters
    assert {"step_handler", "retries", "sleep_seconds", "check_step_health_interval_seconds", "max_concurrent",
            "tag_concurrency_limits"} <= set(params)


def test_the_backfill_constructor_takes_what_the_cli_passes():
    params = inspect.signature(compat.PartitionBackfill.from_asset_partitions).parameters
    assert {"backfill_id", "asset_graph", "partition_names", "asset_selection", "dynamic_partitions_store",
            "backfill_timestamp", "all_partitions", "title", "description"} <= set(params), list(params)
