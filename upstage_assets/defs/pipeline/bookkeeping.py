"""Writing a document's materialization survives a database restart or failover.

A batch logs one ``AssetMaterialization`` per document per stage into the instance's event
log (PostgreSQL in deployment). If the database restarts or fails over while the batch runs,
that write raises, although the document's result is already stored: without this, the
document would be recorded as failed (``internal_error``) and processed (and paid for) again.
Instead the write is retried with backoff for up to ``patience_s`` (a PostgreSQL restart takes
seconds, an RDS Multi-AZ failover one to two minutes). The step's thread does the waiting
(``step_bridge.py``): the batch's event loop keeps its requests going meanwhile, up to the bridge's
backlog.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from upstage_assets.upstage_api.outages import DATABASE_PATIENCE_S, is_database_outage

logger = logging.getLogger(__name__)

DB_OUTAGE_PATIENCE_S = DATABASE_PATIENCE_S


def log_event_patiently(context: Any, event: Any, patience_s: float = DB_OUTAGE_PATIENCE_S) -> None:
    """``context.log_event(event)``, retried while the instance database is unreachable.

    A write cut by the outage may have been committed before the connection dropped, so before
    writing again the event log is asked whether this run's materialization is already there:
    a document is never materialized twice by one run.
    """
    deadline = time.monotonic() + patience_s
    delay = 0.5
    started = time.time()
    attempt = 0
    while True:
        attempt += 1
        try:
            if attempt == 1 or not _already_stored(context, event, since=started - 1.0):
                context.log_event(event)
            return
        except Exception as exc:
            if not is_database_outage(exc) or time.monotonic() + delay > deadline:
                raise
            logger.warning("the Dagster instance database is unreachable (%s); retrying the materialization "
                           "in %.1f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _already_stored(context: Any, event: Any, since: float) -> bool:
    """Whether this run stored ``event``'s materialization (of its asset and partition) since ``since``."""
    from dagster import AssetRecordsFilter

    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=event.asset_key, asset_partitions=[event.partition]), limit=1).records
    return bool(records) and records[0].run_id == context.run_id and records[0].timestamp >= since
