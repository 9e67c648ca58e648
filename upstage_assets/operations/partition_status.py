"""Which documents each asset has materialized, from Dagster's asset status cache, not a scan.

``DagsterInstance.get_materialized_partitions`` groups every materialization event of the asset
(one per document: a query over N rows, four times per ``status``). Dagster keeps the answer
per asset in its asset status cache, the one the UI's asset graph and partitions page read,
and brings it up to date from the events after its cursor. Reading it there costs one row and
the events since, and keeps the cache warm for the UI too (it writes the refreshed value back,
as the UI does). The cached subset can still name a partition deleted since: callers intersect
with the current partitions, as they did with the query's answer.
"""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance

from upstage_assets.dagster_compat import get_and_update_asset_status_cache_value
from upstage_assets.defs.pipeline.partitions import documents_partitions


def materialized_documents(instance: DagsterInstance, asset_key: AssetKey) -> set[str]:
    """Documents with a materialization of ``asset_key`` (from the status cache when it can say)."""
    cached = get_and_update_asset_status_cache_value(instance, asset_key, documents_partitions)
    if cached is None:  # nothing materialized or planned yet
        return set()
    if cached.serialized_materialized_partition_subset is None:  # a cache this Dagster cannot read back
        return set(instance.get_materialized_partitions(asset_key))
    subset = cached.deserialize_materialized_partition_subsets(documents_partitions)
    return set(subset.get_partition_keys())
