"""The counts ``status`` asks of the event log's database (``dagster_compat``) equal what Dagster's
public API says once every key is fetched, on PostgreSQL and on SQLite: several materializations
of a partition, materializations of keys that are not (or no longer) partitions, a wiped asset,
and planned-but-failed materializations."""

from __future__ import annotations

import time
import uuid

import pytest
import yaml
from dagster import AssetKey, AssetMaterialization, DagsterInstance, instance_for_test

from upstage_assets.dagster_compat import (
    dynamic_partition_count,
    materialized_partition_counts,
    partitions_without_materialization,
)
from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS, RAW_DOCUMENTS, VALIDATED_DOCUMENTS
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.operations.backlog import missing_documents, stage_done_counts, unvalidated_partitions

NAME = DOCUMENTS_PARTITIONS_NAME


@pytest.fixture(params=["postgres", "sqlite"])
def instance(request, tmp_path):
    if request.param == "sqlite":
        with instance_for_test(temp_dir=str(tmp_path)) as sqlite_instance:
            yield sqlite_instance
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(
        {"storage": {"postgres": {"postgres_url": url}}, "telemetry": {"enabled": False}}))
    with DagsterInstance.from_config(str(tmp_path)) as postgres_instance:
        yield postgres_instance


def _materialize(instance: DagsterInstance, key: AssetKey, partition: str) -> None:
    instance.report_runless_asset_event(AssetMaterialization(asset_key=key, partition=partition))


def _public(instance: DagsterInstance) -> tuple[dict[AssetKey, int], list[str], int]:
    """The same answers from the public API: every partition key and every materialized one."""
    order = list(instance.get_dynamic_partitions(NAME))
    counts = {key: len(instance.get_materialized_partitions(key) & set(order)) for key in DOCUMENT_ASSET_KEYS}
    validated = instance.get_materialized_partitions(VALIDATED_DOCUMENTS)
    return counts, [k for k in order if k not in validated], len(order)


def _assert_as_public(instance: DagsterInstance) -> None:
    counts, unvalidated, partitions = _public(instance)
    assert materialized_partition_counts(instance, DOCUMENT_ASSET_KEYS, NAME) == counts
    assert partitions_without_materialization(instance, VALIDATED_DOCUMENTS, NAME) == unvalidated
    assert dynamic_partition_count(instance, NAME) == partitions
    assert stage_done_counts(instance) == {k.to_user_string(): v for k, v in counts.items()}
    assert unvalidated_partitions(instance) == unvalidated


def test_event_log_counts_equal_the_public_api(instance):
    keys = [f"{i:064x}" for i in range(12)]
    assert materialized_partition_counts(instance, DOCUMENT_ASSET_KEYS, NAME) == dict.fromkeys(DOCUMENT_ASSET_KEYS, 0)
    instance.add_dynamic_partitions(NAME, keys)
    _assert_as_public(instance)
    for i, key in enumerate(keys):
        for asset in DOCUMENT_ASSET_KEYS[: 1 + i % len(DOCUMENT_ASSET_KEYS)]:  # documents stopped at every stage
            _materialize(instance, asset, key)
    _materialize(instance, VALIDATED_DOCUMENTS, keys[3])  # a second materialization of a partition
    _materialize(instance, VALIDATED_DOCUMENTS, "f" * 64)  # a key that is no partition
    _assert_as_public(instance)
    instance.delete_dynamic_partition(NAME, keys[7])  # materialized at every stage, then removed
    _assert_as_public(instance)
    instance.wipe_assets([RAW_DOCUMENTS])
    time.sleep(0.01)  # the wipe filter compares timestamps: the next event must come strictly after
    _materialize(instance, RAW_DOCUMENTS, keys[0])
    _assert_as_public(instance)
    assert materialized_partition_counts(instance, [RAW_DOCUMENTS], NAME) == {RAW_DOCUMENTS: 1}


def test_missing_documents_keeps_its_answer_with_the_partitions_given_or_not(instance):
    keys = [f"{i:064x}" for i in range(5)]
    instance.add_dynamic_partitions(NAME, keys)
    _materialize(instance, VALIDATED_DOCUMENTS, keys[1])
    order = list(instance.get_dynamic_partitions(NAME))
    expected = [keys[0], *keys[2:]]
    assert missing_documents(instance) == expected
    assert missing_documents(instance, order=order) == expected
    assert missing_documents(instance, order=order, done={keys[1]}) == expected
