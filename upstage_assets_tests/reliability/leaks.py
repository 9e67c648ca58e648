"""Search everything the platform left behind for secrets it was given through the environment.

Files are searched as bytes (SQLite event logs and compute logs included); Parquet files are
also decoded, because a compressed column would hide a secret from a byte search; the event
log is searched once more record by record, serialized, so nothing escapes through a format.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
from dagster import DagsterInstance, EventRecordsFilter
from dagster._serdes import serialize_value

CAPTURED_LOGGERS = ("", "dagster", "upstage_assets", "uvicorn", "uvicorn.error", "httpx", "botocore", "boto3")


def _parquet_text(path: Path) -> str:
    try:
        return str(pq.read_table(io.BytesIO(path.read_bytes())).to_pylist())
    except Exception:
        return ""


def leaks_in_files(secrets: Iterable[str], roots: Iterable[Path]) -> list[str]:
    """``"<file>: <secret prefix>"`` for every file under ``roots`` that holds a secret."""
    needles = [(s, s.encode()) for s in secrets if s]
    found = []
    for root in roots:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if not path.is_file():
                continue
            data = path.read_bytes()
            text = _parquet_text(path) if path.suffix == ".parquet" else ""
            for secret, needle in needles:
                if needle in data or secret in text:
                    found.append(f"{path}: {secret[:4]}…")
    return found


def event_records(instance: DagsterInstance) -> Iterator[str]:
    """Every event of every run and asset, serialized the way Dagster stores and serves it."""
    from dagster import DagsterEventType

    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            yield serialize_value(entry)
    for event_type in (DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION):
        for record in instance.get_event_records(EventRecordsFilter(event_type=event_type)):
            yield serialize_value(record.event_log_entry)
    for run in instance.get_runs():
        yield serialize_value(run)


def leaks_in_events(secrets: Iterable[str], instance: DagsterInstance) -> list[str]:
    needles = [s for s in secrets if s]
    return [f"event log: {s[:4]}…" for text in event_records(instance) for s in needles if s in text]


@contextmanager
def captured_logs(path: Path, level: int = logging.DEBUG) -> Iterator[Path]:
    """Everything logged in this process (platform, Dagster, emulator, HTTP) also goes to ``path``."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(name) for name in CAPTURED_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(min(old_level or logging.WARNING, logging.INFO))
    try:
        yield path
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
