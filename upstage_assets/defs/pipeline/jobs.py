"""Jobs and the helpers that turn lists of document ids into batched run requests."""

from __future__ import annotations

from collections.abc import Sequence

from dagster import RunRequest, define_asset_job

from upstage_assets.dagster_compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS
from upstage_assets.defs.pipeline.partitions import documents_partitions

process_documents_job = define_asset_job(
    "process_documents",
    selection=list(DOCUMENT_ASSET_KEYS),
    partitions_def=documents_partitions,
    description="Take documents through parse, extraction and validation, many documents per run.",
)


def batched_run_requests(new_keys: Sequence[str], batch_size: int, *, reason: str,
                         run_key_prefix: str | None = None) -> list[RunRequest]:
    """One run per ``batch_size`` consecutive new keys, addressed as a partition range.

    Keys added in one sensor tick are contiguous at the end of the dynamic partitions, so
    a range [first, last] covers exactly them.
    """
    requests = []
    for start in range(0, len(new_keys), batch_size):
        chunk = list(new_keys[start:start + batch_size])
        requests.append(RunRequest(
            run_key=f"{run_key_prefix}:{chunk[0]}:{chunk[-1]}" if run_key_prefix else None,
            tags={ASSET_PARTITION_RANGE_START_TAG: chunk[0], ASSET_PARTITION_RANGE_END_TAG: chunk[-1],
                  "upstage_assets/reason": reason, "upstage_assets/documents": str(len(chunk))},
        ))
    return requests
