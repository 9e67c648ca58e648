"""The state N processed documents leave, written in bulk (for ``bench/scale.py``).

Per document, what a real run leaves: a dynamic partition; four materializations (one per
per-document asset, written through Dagster's own ``store_event_batch``, one batch per run of
50 documents) with the run recorded as succeeded; its result files (registry record, raw
fingerprint with the page count, one table row, the parse and extraction bills; rows are appended
to the Delta table one commit per run, the files written through the same tracked writers
as a run, so each leaves its change marker). One
document in a hundred failed instead: its run is recorded as failed with the four
materializations planned, only ``raw_documents`` materialized, and a row in the failures table.
Nothing is executed, so building 100,000 documents takes minutes, not days.

``postgres_for`` gives the PostgreSQL server for a state: a fresh one that goes away, or the one
kept in a directory (``bench/scale.py --state``) so a state is built once and measured again.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from dagster import (
    AssetMaterialization,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    EventLogEntry,
)

from upstage_assets.dagster_compat import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    AssetMaterializationPlannedData,
    StepMaterializationData,
)
from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS, RAW_DOCUMENTS
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.errors import SourceUnavailable
from upstage_assets.ingest.naming import document_id_for_bytes
from upstage_assets.schemas.arrow import table_schema_for
from upstage_assets.schemas.extraction import load_schema
from upstage_assets.storage.billing import EXTRACTION, PARSE, ProductUsage, write_usage
from upstage_assets.storage.delta import table_location
from upstage_assets.storage.failures import record_failure
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.registry import DocumentRecord, DocumentRegistry
from upstage_assets.storage.summaries import write_tracked

JOB = "process_documents"
PER_RUN = 50
FAILED_EVERY = 100  # one document in this many failed


def synthetic_bytes(n: int) -> bytes:
    return b"%PDF-1.4 scale " + str(n).encode() + b"\n%%EOF\n"


@dataclass
class BuiltState:
    ids: list[str]
    failed: list[str]
    runs: int
    seconds: float


def _event(run_id: str, event_type: DagsterEventType, data: object) -> EventLogEntry:
    dagster_event = DagsterEvent(event_type_value=event_type.value, job_name=JOB, event_specific_data=data)
    return EventLogEntry(error_info=None, level=20, user_message="", run_id=run_id, timestamp=time.time(),
                         dagster_event=dagster_event)


def _write_files(store: ObjectStore, layout: OutputLayout, n: int, document_id: str, failed: bool) -> None:
    data = synthetic_bytes(n)
    DocumentRegistry(store, layout).put(DocumentRecord(
        document_id=document_id, source_uri=f"s3://inbox-bucket/inbox/d{n:07d}.pdf", sha256=document_id,
        size_bytes=len(data), filename=f"d{n:07d}.pdf", schema="invoice"))
    write_tracked(store, layout, layout.raw_key(document_id), json.dumps(
        {"document_id": document_id, "page_count": 1, "mime_type": "application/pdf"}).encode())
    write_usage(store, layout, document_id, ProductUsage(PARSE, 1, 0.01))
    if failed:
        record_failure(store, layout, document_id=document_id, source_uri=None, stage="parsed_layouts",
                       error=SourceUnavailable("synthetic: the source could not be read"), run_id="scale-bench")
        return
    write_usage(store, layout, document_id, ProductUsage(EXTRACTION, 1, 0.04))


def _append_rows(store: ObjectStore, layout: OutputLayout, start: int, ids: list[str], failed: set[str]) -> None:
    """The validated rows of one run's documents, as one Delta commit (a run commits its batch), in the
    real table's schema, so a real run (``scale.py --worker``) can MERGE its rows into the table."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from deltalake import write_deltalake

    rows = [(start + i, d) for i, d in enumerate(ids) if d not in failed]
    if not rows:
        return
    schema = load_schema("invoice")
    now = datetime.now(UTC)
    table = pa.Table.from_pylist([{"document_id": d, "invoice_number": f"INV-{n}", "amount": Decimal(n),
                                   "sha256": d, "backend": "local", "schema_name": schema.name,
                                   "schema_version": schema.version, "processed_at": now, "pages_billed": 1}
                                  for n, d in rows], schema=table_schema_for(schema))
    write_deltalake(table_location(store, layout.tables, "invoice").uri, table, mode="append")


def upgrade_table(store: ObjectStore, layout: OutputLayout) -> list[str]:
    """Give a state built before the rows had the real schema (three columns) the real table's missing
    columns, null in the old rows: one metadata-only commit, so a real run's MERGE (which compares
    ``processed_at``) can commit into it. Returns the columns added."""
    from deltalake import DeltaTable, Field

    location = table_location(store, layout.tables, "invoice")
    if not location.exists():
        return []
    table = DeltaTable(location.uri)
    have = {f.name for f in table.schema().fields}
    missing = [f for f in table_schema_for(load_schema("invoice")) if f.name not in have]
    if missing:
        table.alter.add_columns([Field.from_arrow(f.with_nullable(True)) for f in missing])
    return [f.name for f in missing]


def build_state(instance: DagsterInstance, store: ObjectStore, layout: OutputLayout, start: int, count: int,
                progress: bool = True) -> BuiltState:
    """Documents ``start .. start+count-1``: partitions, runs, events and result files."""
    began = time.monotonic()
    ids = [document_id_for_bytes(synthetic_bytes(n)) for n in range(start, start + count)]
    failed = [d for i, d in enumerate(ids) if (start + i) % FAILED_EVERY == FAILED_EVERY - 1]
    failed_set = set(failed)
    for chunk in range(0, count, 5000):
        instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, ids[chunk:chunk + 5000])
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: _write_files(store, layout, start + i, ids[i], ids[i] in failed_set), range(count)))
    storage = instance.event_log_storage
    runs = 0
    for first in range(0, count, PER_RUN):
        batch = ids[first:first + PER_RUN]
        broken = [d for d in batch if d in failed_set]
        run_id = str(uuid.uuid4())
        instance.add_run(DagsterRun(job_name=JOB, run_id=run_id,
                                    status=DagsterRunStatus.FAILURE if broken else DagsterRunStatus.SUCCESS,
                                    tags={ASSET_PARTITION_RANGE_START_TAG: batch[0],
                                          ASSET_PARTITION_RANGE_END_TAG: batch[-1],
                                          "upstage_assets/documents": str(len(batch))}))
        runs += 1
        _append_rows(store, layout, start + first, batch, failed_set)
        for key in DOCUMENT_ASSET_KEYS:
            done = [d for d in batch if d not in broken or key == RAW_DOCUMENTS]
            storage.store_event_batch([_event(run_id, DagsterEventType.ASSET_MATERIALIZATION,
                                              StepMaterializationData(AssetMaterialization(
                                                  asset_key=key, partition=d, metadata={"pages": 1})))
                                       for d in done])
            for d in broken:
                if key != RAW_DOCUMENTS:
                    storage.store_event(_event(run_id, DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                                               AssetMaterializationPlannedData(key, partition=d)))
        if progress and runs % 200 == 0:
            print(f"  state: {first + len(batch)}/{count} documents, {time.monotonic() - began:.0f}s", flush=True)
    return BuiltState(ids, failed, runs, time.monotonic() - began)


@contextlib.contextmanager
def postgres_for(state: Path | None) -> Iterator[Any]:
    """A fresh cluster that goes away afterwards, or the one kept in ``state/pg`` (created there once)."""
    from upstage_assets_tests.fixtures.postgres import (
        running_postgres,
        start_existing_postgres,
        start_postgres,
    )

    if state is None:
        with running_postgres() as server:
            yield server
        return
    data_dir = state / "pg"
    if (data_dir / "pgdata").exists():
        server, stop = start_existing_postgres(str(data_dir))
    else:
        closed = [p for p in data_dir.parents if os.geteuid() == 0 and p.exists() and not p.stat().st_mode & 0o001]
        if closed:  # as root the server runs as ``postgres``, which must reach the directory
            raise SystemExit(f"--state {state}: the postgres user cannot enter {closed[0]} (mode "
                             f"{oct(closed[0].stat().st_mode & 0o777)}); keep the state under /tmp or /work")
        data_dir.mkdir(parents=True)
        server, stop = start_postgres(str(data_dir))
    try:
        yield server
    finally:
        subprocess.run(stop, check=False, capture_output=True)
