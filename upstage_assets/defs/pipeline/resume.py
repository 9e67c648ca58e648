"""What the pipeline step reads from a recovery run's tags: which documents, from which stage.

Recovery runs (``operations/recovery.py``) cover contiguous ranges of the partition order and
name the documents they want in ``ONLY_DOCUMENTS_TAG``; with ``RESUME_TAG`` a wanted document
also skips the stages it already has, except from the stage it last failed at.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping, Sequence

import pyarrow.parquet as pq
from dagster import AssetKey, DagsterInstance

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
