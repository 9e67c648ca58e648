"""The validated tables as Parquet, CSV or JSON Lines: one file per schema."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from upstage_assets.exporters.base import ExportResult, ExportSource


def _areas(include_quarantine: bool) -> list[tuple[str, str]]:
    return [("tables", "")] + ([("quarantine", ".quarantine")] if include_quarantine else [])


def json_default(value: Any) -> Any:
    """Dates as ISO text; a decimal amount as a JSON number when a float holds it exactly, else text."""
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _plain_value(value: Any) -> Any:
    """Maps arrive from Arrow as lists of (key, value) pairs; JSON wants objects."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {str(k): _plain_value(v) for k, v in value}
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items()}
    return value


def _flatten_for_csv(table: pa.Table) -> pa.Table:
    """CSV has no nested types: lists, maps and structs become JSON text."""
    columns = []
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if pa.types.is_list(kind) or pa.types.is_map(kind) or pa.types.is_struct(kind) or pa.types.is_large_list(kind):
            texts = [None if v is None else json.dumps(_plain_value(v), ensure_ascii=False, default=json_default)
                     for v in column.to_pylist()]
            columns.append(pa.array(texts, pa.string()))
        else:
            columns.append(column)
    return pa.table(columns, names=table.column_names)


def _export(source: ExportSource, out_dir: Path, schemas: Iterable[str] | None, include_quarantine: bool,
            suffix: str, write: Any) -> ExportResult:
    result = ExportResult()
    out_dir.mkdir(parents=True, exist_ok=True)
    for area, label in _areas(include_quarantine):
        for schema, table in source.tables(area, schemas).items():
            path = out_dir / f"{schema}{label}.{suffix}"
            tmp = path.with_name(f".{path.name}.tmp")
            write(table, tmp)
            tmp.replace(path)
            result.files.append(path)
            result.records += table.num_rows
    result.skipped.extend(source.unreadable)
    return result


def export_parquet(source: ExportSource, out_dir: Path, *, schemas: Iterable[str] | None = None,
                   include_quarantine: bool = False, **_: Any) -> ExportResult:
    return _export(source, out_dir, schemas, include_quarantine, "parquet",
                   lambda table, path: pq.write_table(table, path, compression="zstd"))


def export_csv(source: ExportSource, out_dir: Path, *, schemas: Iterable[str] | None = None,
               include_quarantine: bool = False, **_: Any) -> ExportResult:
    return _export(source, out_dir, schemas, include_quarantine, "csv",
                   lambda table, path: pacsv.write_csv(_flatten_for_csv(table), path))


def _write_jsonl(table: pa.Table, path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in table.to_pylist():
            fh.write(json.dumps(_plain_value(row), ensure_ascii=False, default=json_default) + "\n")


def export_jsonl(source: ExportSource, out_dir: Path, *, schemas: Iterable[str] | None = None,
                 include_quarantine: bool = False, **_: Any) -> ExportResult:
    return _export(source, out_dir, schemas, include_quarantine, "jsonl", _write_jsonl)
