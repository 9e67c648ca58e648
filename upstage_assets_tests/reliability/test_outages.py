"""Riding out a database outage: what counts as one, bounded retries, and no double materialization."""

from __future__ import annotations

import psycopg2
import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from upstage_assets.defs.pipeline.bookkeeping import log_events_patiently
from upstage_assets.upstage_api.outages import is_database_outage, retry_through_outage


def outage() -> OperationalError:
    return OperationalError("SELECT 1", {}, psycopg2.OperationalError("server closed the connection unexpectedly"))


def test_outages_are_told_from_other_database_errors():
    assert is_database_outage(outage())
    wrapped = RuntimeError("event log write failed")
    wrapped.__cause__ = outage()
    assert is_database_outage(wrapped)
    assert not is_database_outage(ProgrammingError("SELECT x", {}, Exception("syntax error")))
    assert not is_database_outage(ValueError("nope"))


def test_retry_through_outage_is_bounded():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise outage()
        return "ok"

    assert retry_through_outage(flaky, patience_s=10, sleep=lambda s: None) == "ok" and len(calls) == 3
    with pytest.raises(OperationalError):
        retry_through_outage(lambda: (_ for _ in ()).throw(outage()), patience_s=0.0, sleep=lambda s: None)


def test_a_batch_cut_after_its_first_write_committed_stores_each_materialization_once(monkeypatch):
    """A real Dagster instance (SQLite writes a batch event by event): the first materialization is
    committed, then the connection drops and stays down for the event-by-event writes Dagster tries
    at once; the patient retry asks the event log and writes only the two still missing."""
    from dagster import (
        AssetKey,
        AssetMaterialization,
        DagsterEventType,
        asset,
        instance_for_test,
        materialize,
    )

    with instance_for_test() as instance:
        storage = instance.event_log_storage
        store = storage.store_event
        writes = []

        def cut_then_down(event):
            if event.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION:
                writes.append(event.dagster_event.partition)
                if len(writes) == 1:
                    store(event)  # committed, then the connection drops
                if len(writes) <= 2:
                    raise outage()
            store(event)

        monkeypatch.setattr(storage, "store_event", cut_then_down)

        @asset
        def probe(context) -> None:
            log_events_patiently(context, [AssetMaterialization("parsed_layouts", partition=p) for p in "abc"])

        assert materialize([probe], instance=instance).success
        records = instance.fetch_materializations(AssetKey("parsed_layouts"), limit=10).records
        assert sorted(r.partition_key for r in records) == ["a", "b", "c"]
        assert writes[:4] == ["a", "a", "b", "c"], "the batch, Dagster's own retry of it, then only b and c"
