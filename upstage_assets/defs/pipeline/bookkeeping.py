"""Writing a document's materialization survives a database restart or failover.

A batch logs one ``AssetMaterialization`` per document per stage into the instance's event
log (PostgreSQL in deployment). If the database restarts or fails over while the batch runs,
that write raises, although the document's result is already stored: without this, the
document would be recorded as failed (``internal_error``) and processed (and paid for) again.
Instead the write is retried with backoff for up to ``patience_s`` (a PostgreSQL restart takes
seconds, an RDS Multi-AZ failover one to two minutes). The step's thread does the waiting
(``step_bridge.py``): the batch's event loop keeps its requests going meanwhile, up to the bridge's
backlog.

Materializations of one asset that are ready together (many documents finishing a stage while
one write is in flight) are written as one batch; after an outage, only those not yet stored are
written again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from upstage_assets.dagster_compat import log_materialization_batch
from upstage_assets.upstage_api.outages import DATABASE_PATIENCE_S, is_database_outage

logger = logging.getLogger(__name__)

DB_OUTAGE_PATIENCE_S = DATABASE_PATIENCE_S


def log_events_patiently(context: Any, events: Sequence[Any], patience_s: float = DB_OUTAGE_PATIENCE_S,
                         write: Callable[[Any, list[Any]], None] = log_materialization_batch) -> None:
    """Materializations of one asset, written as one batch (``write``), retried while the instance
    database is unreachable.

    A write cut by the outage may have been committed before the connection dropped (whole: one
    INSERT on PostgreSQL; or in part, where a storage writes event by event), so before writing
    again the event log is asked which of this run's materializations are already there: a
    document is not materialized twice by one run. (One window remains, Dagster's own: when a
    batch write fails and the event-by-event writes Dagster then makes at once succeed, a batch
    committed before its connection dropped is stored twice; a real outage fails those too.)
    """
    deadline = time.monotonic() + patience_s
    delay = 0.5
    started = time.time()
    pending = list(events)
    attempt = 0
    while True:
        attempt += 1
        try:
            if attempt > 1:
                pending = [e for e in pending if not _already_stored(context, e, since=started - 1.0)]
            write(context, pending)
            return
        except Exception as exc:
            if not is_database_outage(exc) or time.monotonic() + delay > deadline:
                raise
            logger.warning("the Dagster instance database is unreachable (%s); retrying %d materializations "
                           "in %.1f s", type(exc).__name__, len(pending), delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _already_stored(context: Any, event: Any, since: float) -> bool:
    """Whether this run stored ``event``'s materialization (of its asset and partition) since ``since``."""
    from dagster import AssetRecordsFilter

    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=event.asset_key, asset_partitions=[event.partition]), limit=1).records
    return bool(records) and records[0].run_id == context.run_id and records[0].timestamp >= since
