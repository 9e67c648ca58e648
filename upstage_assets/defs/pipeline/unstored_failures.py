"""Failure records the output store refused (a full disk): kept in the run's tags instead.

A document that fails with ``storage_full`` cannot have its failure record written to the
``failures/`` folder of that same full store, and without a record ``status`` would call it
"unfinished" and not say why. So a failure record the store refuses (for whatever reason) is
kept in one tag of the run, ``UNSTORED_FAILURES_TAG``: Dagster's run storage, the instance's
database, which is not on the output disk and which ``status`` and ``retry-failed`` read anyway.
Why a tag: it is written the moment the document fails, so it survives a worker that dies
before space is back (an in-memory list flushed later would not), and it needs nothing but
the public ``add_run_tags``/``get_run_tags``.

Readers (``current_failures``) put these rows beside the failures table, the latest per
document winning. A kept row is superseded by a later failure of the document (stored or
kept) and by a later materialization of the stage it failed at, so it never outlives the fix.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

logger = logging.getLogger(__name__)

UNSTORED_FAILURES_TAG = "upstage_assets/failures_not_stored"
MAX_MESSAGE = 200  # the tag holds every kept row of its run: keep each one short
FIELDS = ("document_id", "stage", "error_code", "error_class", "message", "retryable", "run_id", "failed_at")

_lock = threading.Lock()
_kept: dict[str, dict[str, dict[str, Any]]] = {}  # run id -> document id -> row, this process's runs


def keep_unstored_failure(instance: DagsterInstance, run_id: str, row: dict[str, Any]) -> bool:
    """Put a failure row (``failures.failure_row``) the store refused into the run's tag; False if
    that failed too (the run's log still names the document and its error)."""
    kept = {k: row.get(k) for k in FIELDS}
    kept["message"] = str(kept["message"] or "")[:MAX_MESSAGE]
    kept["failed_at"] = row["failed_at"].isoformat()
    with _lock:
        rows = _kept.setdefault(run_id, {})
        rows[row["document_id"]] = kept
        value = json.dumps(list(rows.values()), sort_keys=True)
    try:
        instance.add_run_tags(run_id, {UNSTORED_FAILURES_TAG: value})
        return True
    except Exception as exc:  # the database is out too: nothing else is left to write to
        logger.warning("could not keep an unstored failure record in the run's tags: %s", type(exc).__name__)
        return False


def unstored_failures(instance: DagsterInstance) -> list[dict[str, Any]]:
    """Kept rows still current: the latest per document, unless its stage materialized since."""
    latest: dict[str, dict[str, Any]] = {}
    for _, values in instance.get_run_tags(tag_keys=[UNSTORED_FAILURES_TAG]):
        for value in values:
            for row in _rows(value):
                old = latest.get(row["document_id"])
                if old is None or old["failed_at"] < row["failed_at"]:
                    latest[row["document_id"]] = row
    return [row for row in latest.values() if not _stage_done_since(instance, row)]


def current_failures(stored: Iterable[dict[str, Any]], instance: DagsterInstance | None) -> list[dict[str, Any]]:
    """The failures table's rows with the kept ones beside them: per document the latest failure."""
    by_document = {row["document_id"]: row for row in stored}
    if instance is None:
        return list(by_document.values())
    for row in unstored_failures(instance):
        old = by_document.get(row["document_id"])
        if old is None or old["failed_at"] is None or old["failed_at"] < row["failed_at"]:
            by_document[row["document_id"]] = {"source_uri": None, **row}
    return list(by_document.values())


def _rows(value: str) -> list[dict[str, Any]]:
    try:
        rows = [{**row, "failed_at": datetime.fromisoformat(row["failed_at"])} for row in json.loads(value)]
    except (ValueError, TypeError, KeyError) as exc:  # a tag edited by hand: the others still count
        logger.warning("skipping an unreadable %s tag: %s", UNSTORED_FAILURES_TAG, type(exc).__name__)
        return []
    return [row for row in rows if all(k in row for k in FIELDS)]


def _stage_done_since(instance: DagsterInstance, row: dict[str, Any]) -> bool:
    """Whether the stage the document failed at has been materialized after the failure."""
    try:
        key = AssetKey.from_user_string(row["stage"])
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=[row["document_id"]]), limit=1).records
    except Exception as exc:  # an unknown stage name: the failure stays visible
        logger.debug("no materialization lookup for %s: %s", row["stage"], type(exc).__name__)
        return False
    return bool(records) and records[0].timestamp >= row["failed_at"].timestamp()
