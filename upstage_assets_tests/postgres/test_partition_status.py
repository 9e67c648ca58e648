"""Materialized documents per asset from Dagster's status cache equal the event log's answer.

Events are written the way runs leave them (materializations, and a failed run's planned
materializations) through the event log storage, step by step, so the cache is built once and
then brought up to date incrementally; on SQLite and on a real PostgreSQL server.
"""

from __future__ import annotations

import time
import uuid

import pytest
from dagster import (
    AssetMaterialization,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    EventLogEntry,
)

from upstage_assets.dagster_compat import AssetMaterializationPlannedData, StepMaterializationData
from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS, PARSED_LAYOUTS, RAW_DOCUMENTS
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.operations.partition_status import materialized_documents


def _event(run_id: str, event_type: DagsterEventType, data: object) -> EventLogEntry:
    event = DagsterEvent(event_type_value=event_type.value, job_name="process_documents", event_specific_data=data)
    return EventLogEntry(error_info=None, level=20, user_message="", run_id=run_id, timestamp=time.time(),
                         dagster_event=event)


def _run(instance: DagsterInstance, documents: list[str], broken: set[str]) -> None:
    """One run over ``documents``; the ``broken`` ones only got ``raw_documents``, the rest planned."""
    run_id = str(uuid.uuid4())
    instance.add_run(DagsterRun(job_name="process_documents", run_id=run_id,
                                status=DagsterRunStatus.FAILURE if broken else DagsterRunStatus.SUCCESS))
    for key in DOCUMENT_ASSET_KEYS:
        for document in documents:
            if document in broken and key != RAW_DOCUMENTS:
                instance.event_log_storage.store_event(_event(
                    run_id, DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                    AssetMaterializationPlannedData(key, partition=document)))
            else:
                instance.event_log_storage.store_event(_event(
                    run_id, DagsterEventType.ASSET_MATERIALIZATION,
                    StepMaterializationData(AssetMaterialization(asset_key=key, partition=document))))


def _assert_same(instance: DagsterInstance) -> None:
    partitions = set(instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME))
    for key in DOCUMENT_ASSET_KEYS:
        assert materialized_documents(instance, key) & partitions == \
            set(instance.get_materialized_partitions(key)) & partitions, key


def _exercise(instance: DagsterInstance) -> None:
    assert materialized_documents(instance, PARSED_LAYOUTS) == set()
    docs = [f"{i:016x}" for i in range(30)]
    instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, docs[:20])
    _run(instance, docs[:10], broken={docs[3]})
    _assert_same(instance)  # built from nothing
    _run(instance, docs[10:20], broken=set())
    _assert_same(instance)  # brought up to date
    _run(instance, [docs[3]], broken=set())  # the failed one, re-run
    instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, docs[20:])
    _run(instance, docs[20:], broken={docs[25]})
    instance.delete_dynamic_partition(DOCUMENTS_PARTITIONS_NAME, docs[0])
    _assert_same(instance)
    assert materialized_documents(instance, PARSED_LAYOUTS) >= set(docs) - {docs[0], docs[25]}


def test_on_sqlite(dagster_instance):
    _exercise(dagster_instance)


@pytest.mark.slow
def test_on_postgres(postgres_server, tmp_path):
    url = postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(f"telemetry:\n  enabled: false\nstorage:\n  postgres:\n    postgres_url: {url}\n")
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.event_log_storage.can_write_asset_status_cache()
        _exercise(instance)
