"""Many small born-digital invoices, registered as document partitions, for the scale tests."""

from __future__ import annotations

import random
from pathlib import Path

from dagster import DagsterInstance

from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.ingest.folder import register_objects
from upstage_assets.samples.invoice_layouts import INVOICE_LAYOUTS
from upstage_assets.samples.values import random_invoice
from upstage_assets.storage.object_store import open_store
from upstage_assets.storage.registry import DocumentRegistry


def write_invoices(folder: Path, count: int, seed: int = 11) -> list[Path]:
    """One-page invoice PDFs with distinct numbers (so distinct bytes, so distinct documents)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for index in range(count):
        pdf = INVOICE_LAYOUTS[index % len(INVOICE_LAYOUTS)](random_invoice(rng, index))
        path = folder / f"invoice_{index:04d}.pdf"
        pdf.output(str(path))
        paths.append(path)
    return paths


def register_documents(inbox: Path, output_root: Path, instance: DagsterInstance,
                       schema: str = "invoice") -> list[str]:
    """Register every file in the inbox and add the partitions, in the order a sensor would."""
    source = open_store(str(inbox), None)
    registry = DocumentRegistry(open_store(str(output_root), None))
    result = register_objects(source, registry, list(source.list()), default_schema=schema)
    instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, result.new_ids)
    return result.new_ids


def persistent_instance(home: Path) -> DagsterInstance:
    """A SQLite instance on disk that a second process can open too (``DAGSTER_HOME=home``)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return DagsterInstance.from_config(str(home))


def materialization_counts(instance: DagsterInstance, asset_key, keys) -> dict[str, int]:
    """How many times each partition of an asset was materialized (0 for never)."""
    from dagster import AssetRecordsFilter

    counts = dict.fromkeys(keys, 0)
    cursor = None
    while True:
        result = instance.fetch_materializations(AssetRecordsFilter(asset_key=asset_key), limit=1000, cursor=cursor)
        for record in result.records:
            counts[record.partition_key] = counts.get(record.partition_key, 0) + 1
        if not result.has_more:
            return counts
        cursor = result.cursor


def parquet_rows_by_document(output_root: Path) -> dict[str, int]:
    """Rows per document across the validated tables and the quarantine."""
    from upstage_assets.operations.reporting import read_tables

    rows: dict[str, int] = {}
    for area in ("tables", "quarantine"):
        for table in read_tables(output_root, area).values():
            for document_id in table.column("document_id").to_pylist():
                rows[document_id] = rows.get(document_id, 0) + 1
    return rows


def exactly_once(instance: DagsterInstance, output_root: Path, keys) -> tuple[list[str], list[str], list[str]]:
    """(lost, duplicated, processed twice): documents without a row, with more than one row, and
    with any per-document asset materialized more than once."""
    from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS

    rows = parquet_rows_by_document(output_root)
    twice: set[str] = set()
    for asset in DOCUMENT_ASSET_KEYS:
        twice |= {k for k, n in materialization_counts(instance, asset, keys).items() if n > 1}
    return ([k for k in keys if rows.get(k, 0) == 0], [k for k in keys if rows.get(k, 0) > 1], sorted(twice))
