"""What the pipeline step reads from a recovery run's tags: which documents, from which stage.

Recovery runs (``operations/recovery.py``) cover contiguous ranges of the partition order and
name the documents they want in ``ONLY_DOCUMENTS_TAG``; with ``RESUME_TAG`` a wanted document
also skips the stages it already has, except from the stage it last failed at.

A re-execution of a run (Dagster's automatic run retry after a lost or interrupted worker, or
"re-execute" in the UI) resumes its run group: documents that an earlier run of the group
finished or recorded a failure for are skipped, and the others skip the stages the group
already materialized (``done_in_run_group``).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pyarrow.parquet as pq
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRun

from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS
from upstage_assets.errors import UnsafeDocumentKey
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore

ONLY_DOCUMENTS_TAG = "upstage_assets/only_documents"  # comma-separated keys the step processes
RESUME_TAG = "upstage_assets/resume"  # "true": skip the stages a document already has

logger = logging.getLogger(__name__)


def documents_wanted(tags: Mapping[str, str], keys: Sequence[str]) -> list[str]:
    """The run's keys, narrowed to the listed ones when the run is a recovery run."""
    listed = tags.get(ONLY_DOCUMENTS_TAG)
    if not listed:
        return list(keys)
    wanted = set(listed.split(","))
    return [k for k in keys if k in wanted]


def _failed_stage(store: ObjectStore, layout: OutputLayout, document_id: str) -> str | None:
    try:
        key = layout.failure_key(document_id)
    except UnsafeDocumentKey:
        return None  # the stage refuses the key itself
    if not store.exists(key):
        return None
    try:
        table = pq.read_table(io.BytesIO(store.read_bytes(key)), columns=["stage"])
    except Exception as exc:  # an unreadable record must not stop the batch: resume from the start
        logger.warning("failure record of %s unreadable (%s); its stages are not skipped", document_id,
                       type(exc).__name__)
        return DOCUMENT_ASSET_KEYS[0].to_user_string()
    return table.column("stage")[0].as_py() if table.num_rows else None


def stages_to_skip(instance: DagsterInstance, tags: Mapping[str, str], keys: Sequence[str],
                   selected: Iterable[AssetKey], store: ObjectStore,
                   layout: OutputLayout) -> dict[str, set[AssetKey]]:
    """Per document, the leading stages already materialized (empty unless the run resumes)."""
    if tags.get(RESUME_TAG) != "true":
        return {}
    ordered = [k for k in DOCUMENT_ASSET_KEYS if k in set(selected)]
    done = {asset: instance.get_materialized_partitions(asset) for asset in ordered}
    skips: dict[str, set[AssetKey]] = {}
    for document_id in keys:
        failed_at = _failed_stage(store, layout, document_id)
        skip: set[AssetKey] = set()
        for asset in ordered:
            if asset.to_user_string() == failed_at or document_id not in done[asset]:
                break
            skip.add(asset)
        skips[document_id] = skip
    return skips


@dataclass(frozen=True)
class RunGroupProgress:
    """What earlier runs of this run's group did: documents settled, and stages each one has."""

    settled: frozenset[str]  # validated, or failed with a recorded error: nothing more to do here
    stages: dict[str, set[AssetKey]]


def done_in_run_group(instance: DagsterInstance, run: DagsterRun, keys: Sequence[str],
                      selected: Iterable[AssetKey], store: ObjectStore, layout: OutputLayout) -> RunGroupProgress:
    """For a re-executed run: what its earlier attempts finished, so nothing is processed twice."""
    if not run.parent_run_id:
        return RunGroupProgress(frozenset(), {})
    group = instance.get_run_group(run.run_id)
    earlier = {r.run_id for r in group[1]} - {run.run_id} if group else {run.parent_run_id}
    wanted = set(keys)
    ordered = [k for k in DOCUMENT_ASSET_KEYS if k in set(selected)]
    materialized: dict[AssetKey, set[str]] = {}
    for asset in ordered:
        found: set[str] = set()
        for chunk in range(0, len(keys), 100):
            cursor = None
            while True:
                page = instance.fetch_materializations(
                    AssetRecordsFilter(asset_key=asset, asset_partitions=list(keys[chunk:chunk + 100])),
                    limit=1000, cursor=cursor)
                found |= {r.partition_key for r in page.records if r.run_id in earlier and r.partition_key}
                if not page.has_more:
                    break
                cursor = page.cursor
        materialized[asset] = found & wanted
    stages: dict[str, set[AssetKey]] = {}
    for document_id in keys:
        done: set[AssetKey] = set()
        for asset in ordered:
            if document_id not in materialized[asset]:
                break
            done.add(asset)
        stages[document_id] = done
    finished = {d for d, done in stages.items() if ordered and len(done) == len(ordered)}
    failed = {d for d in keys if d not in finished and _failed_in(store, layout, d, earlier)}
    return RunGroupProgress(frozenset(finished | failed), stages)


def _failed_in(store: ObjectStore, layout: OutputLayout, document_id: str, run_ids: set[str]) -> bool:
    """Whether the document's recorded failure was written by one of ``run_ids``."""
    try:
        key = layout.failure_key(document_id)
        if not store.exists(key):
            return False
        table = pq.read_table(io.BytesIO(store.read_bytes(key)), columns=["run_id"])
    except Exception:  # an unsafe key or unreadable record: process the document
        return False
    return bool(table.num_rows) and table.column("run_id")[0].as_py() in run_ids
