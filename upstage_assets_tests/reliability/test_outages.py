"""Riding out a database outage: what counts as one, bounded retries, and no double materialization."""

from __future__ import annotations

from types import SimpleNamespace

import psycopg2
import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from upstage_assets.defs.pipeline.bookkeeping import log_event_patiently
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


class CutAfterCommit:
    """An event log whose first write is committed, then the connection drops (the client sees an error)."""

    def __init__(self) -> None:
        self.stored: list[tuple[str, str]] = []
        self.run_id = "run-1"
        self.instance = SimpleNamespace(fetch_materializations=self.fetch)

    def log_event(self, event) -> None:
        self.stored.append((self.run_id, event.partition))
        if len(self.stored) == 1:
            raise outage()

    def fetch(self, records_filter, limit):
        import time

        found = [SimpleNamespace(run_id=r, timestamp=time.time()) for r, p in self.stored
                 if p in records_filter.asset_partitions]
        return SimpleNamespace(records=found[-limit:])


def test_a_materialization_committed_before_the_connection_dropped_is_not_written_again():
    from dagster import AssetMaterialization

    context = CutAfterCommit()
    log_event_patiently(context, AssetMaterialization("parsed_layouts", partition="doc-1"))  # the step's thread
    assert context.stored == [("run-1", "doc-1")]
