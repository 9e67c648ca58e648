"""Which failed documents to run again, and as which runs.

A Dagster 1.13 run targets one partition key or one contiguous key *range* (the
``dagster/asset_partition_range_start|end`` tags; ``DagsterRun.partitions_subset`` is derived
from them and holds a single range). There is no run over an arbitrary list of keys. So
documents to re-run are grouped into maximal contiguous stretches of the instance's dynamic
partition order and cut into chunks of at most ``max_per_run`` keys: contiguous failures
become one run per 50 documents, a scattered failure one run of its own. ``max_gap`` lets a
chunk bridge up to that many healthy documents between two failed ones (they are processed
again: idempotent, and free on the local engine, but paid for on the Upstage API), trading a
few redundant documents for far fewer runs. An asset backfill over a key list is split the
same way by Dagster itself (one run per range, chunked by the BackfillPolicy), which is what
``upstage-assets ingest`` submits when no ``--wait`` is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dagster import RunRequest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from upstage_assets.storage.failures import failed_partition_ids
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore

REASON_TAG = "upstage_assets/reason"
DOCUMENTS_TAG = "upstage_assets/documents"


@dataclass(frozen=True)
class PartitionChunk:
    """One run's worth of documents: a contiguous slice of the partition order."""

    keys: tuple[str, ...]  # every key in the range, in partition order
    wanted: int  # how many of them were asked for (the rest are bridged gaps)

    @property
    def start(self) -> str:
        return self.keys[0]

    @property
    def end(self) -> str:
        return self.keys[-1]

    def tags(self, reason: str) -> dict[str, str]:
        return {ASSET_PARTITION_RANGE_START_TAG: self.start, ASSET_PARTITION_RANGE_END_TAG: self.end,
                REASON_TAG: reason, DOCUMENTS_TAG: str(len(self.keys))}

    def run_request(self, reason: str, run_key_prefix: str | None = None) -> RunRequest:
        run_key = f"{run_key_prefix}:{self.start}:{self.end}" if run_key_prefix else None
        return RunRequest(run_key=run_key, tags=self.tags(reason))


def chunk_partitions(ordered_keys: Sequence[str], wanted: Sequence[str], *, max_per_run: int = 50,
                     max_gap: int = 0) -> list[PartitionChunk]:
    """Group ``wanted`` keys into contiguous ranges of ``ordered_keys`` of at most ``max_per_run`` keys.

    Keys not in ``ordered_keys`` are ignored (register them as partitions first).
    """
    if max_per_run < 1 or max_gap < 0:
        raise ValueError("max_per_run must be >= 1 and max_gap >= 0")
    wanted_set = set(wanted)
    positions = [i for i, key in enumerate(ordered_keys) if key in wanted_set]
    chunks: list[PartitionChunk] = []
    first = last = -1
    count = 0
    for pos in positions:
        if first >= 0 and (pos - last - 1 <= max_gap) and (pos - first + 1 <= max_per_run):
            last, count = pos, count + 1
            continue
        if first >= 0:
            chunks.append(PartitionChunk(tuple(ordered_keys[first:last + 1]), count))
        first = last = pos
        count = 1
    if first >= 0:
        chunks.append(PartitionChunk(tuple(ordered_keys[first:last + 1]), count))
    return chunks


def failed_document_ids(store: ObjectStore, layout: OutputLayout, *, retryable_only: bool = False) -> list[str]:
    """Document ids in the failures table (optionally only those whose error may pass on a retry).

    Sources refused at registration are left out: they are not partitions, and re-running one
    would only add a bogus partition that fails with "not in the registry".
    """
    return failed_partition_ids(store, layout, retryable_only=retryable_only)
