"""Running summaries of the per-document files, so ``status`` need not read every one of them.

The per-document files stay the truth: ``registry/<id>.json``, ``raw/<id>.json`` (page count)
and ``usage/<product>/<id>.json`` (bills), each written atomically and on its own. A summary is
a cache derived from them, never trusted alone:

* a writer of such a file (``write_tracked``) writes an empty marker ``changes/<key>.changed``, then the
  file, then the marker again (a crash after the first write is harmless; the second one makes
  the marker at least as new as the file);
* ``compact_summary`` folds the files into one Parquet part (one row per file: a group and
  integer figures) and ``current.json`` (which part, when the fold began, totals per group);
* a reader takes those totals and re-reads only the files that have a marker: the part's row
  for each is taken out and the file's current figures put in (a file gone counts nothing).

A compaction deletes, after writing its summary, the markers whose last write (re-checked just
before deleting) is older than its own start less ``grace_s``: it read their files after it
began, so after those files' last writes, and a writer that writes again re-creates the marker.
A reader checks that ``current.json`` did not change while it read, else reads again. Before the
first compaction a reader scans every file, as ``status`` always did. The one gap: a writer that
stalls between its first marker write and its file for longer than ``grace_s``, across a
compaction, and then dies between the file and the second marker write. Files changed by other
means (by hand) count once a compaction with ``rescan=True`` (a full scan) has run.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from upstage_assets.storage.layout import MARKER_SUFFIX, OutputLayout
from upstage_assets.storage.object_store import ObjectStore, is_missing_object

logger = logging.getLogger(__name__)

GRACE_S = 300.0  # a writer never takes longer than this between its marker and its file
READ_ATTEMPTS = 5
MICRO = 1_000_000
POINTER = "current.json"

Figures = dict[str, int]
Row = tuple[str, Figures]  # (group, figures) of one file
Totals = dict[str, Figures]  # group -> figure -> sum


@dataclass(frozen=True)
class SummaryKind:
    """One folder of per-document files and the integer figures each file contributes."""

    name: str
    folder: Callable[[OutputLayout], str]
    fields: tuple[str, ...]
    extract: Callable[[bytes], Row] | None  # None: the file's existence is the figure (reads nothing)
    suffix: str = ".json"  # the summarised files' name ending

    def row(self, store: ObjectStore, key: str) -> Row | None:
        """The file's group and figures; ``None`` when it is absent or unreadable (logged)."""
        try:
            if self.extract is None:
                return (self.name, {f: 1 for f in self.fields}) if store.exists(key) else None
            return self.extract(store.read_bytes(key))
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - one bad record never fails a report
            if is_missing_object(exc):
                return None
            logger.warning("unreadable %s record %s: %s", self.name, key, type(exc).__name__)
            return None


def _usage_row(data: bytes) -> Row:
    record = json.loads(data)
    return str(record["product"]), {"pages_billed": int(record["pages_billed"]),
                                    "cost_micro_usd": round(float(record["cost_usd"]) * MICRO),
                                    "possibly_billed_twice": int(record.get("possibly_billed_twice") or 0)}


def _pages_row(data: bytes) -> Row:
    return "pages", {"pages": int(json.loads(data).get("page_count") or 0)}


USAGE = SummaryKind("usage", lambda layout: layout.usage, ("pages_billed", "cost_micro_usd", "possibly_billed_twice"),
                    _usage_row)
PAGES = SummaryKind("pages", lambda layout: layout.raw, ("pages",), _pages_row)
REGISTERED = SummaryKind("registered", lambda layout: layout.registry, ("documents",), None)
KINDS = (USAGE, PAGES, REGISTERED)


def write_tracked(store: ObjectStore, layout: OutputLayout, key: str, data: bytes) -> str:
    """Write a summarised per-document file: marker, file, marker again (see the module docstring)."""
    marker = layout.change_marker_key(key)
    store.write_bytes(marker, b"")
    uri = store.write_bytes(key, data)
    store.write_bytes(marker, b"")
    return uri


def delete_tracked(store: ObjectStore, layout: OutputLayout, key: str) -> None:
    """Delete a summarised per-document file the same way (marker, delete, marker)."""
    marker = layout.change_marker_key(key)
    store.write_bytes(marker, b"")
    store.delete(key)
    store.write_bytes(marker, b"")


@dataclass
class SummaryView:
    """What a reader got: totals per group, and (if asked) the files' keys."""

    totals: Totals
    keys: set[str] | None = None
    compacted: bool = False  # False: no summary yet, every file was read
    files_read: int = 0


class SummaryRaced(RuntimeError):
    """Another compaction replaced the summary while this one folded; nothing of this one is used."""


def _add(totals: Totals, row: Row, sign: int = 1) -> None:
    group, figures = row
    into = totals.setdefault(group, {})
    for name, value in figures.items():
        into[name] = into.get(name, 0) + sign * int(value)


def file_keys(store: ObjectStore, layout: OutputLayout, kind: SummaryKind) -> list[str]:
    return [info.key for info in store.list(kind.folder(layout)) if info.key.endswith(kind.suffix)]


def scan(store: ObjectStore, layout: OutputLayout, kind: SummaryKind) -> dict[str, Row]:
    """Every file of the folder read now: the truth a summary must always equal."""
    rows = {}
    for key in file_keys(store, layout, kind):
        row = kind.row(store, key)
        if row is not None:
            rows[key] = row
    return rows


def totals_of(rows: Iterable[Row]) -> Totals:
    totals: Totals = {}
    for row in rows:
        _add(totals, row)
    return _without_zeros(totals)


def summary_base(layout: OutputLayout, kind: SummaryKind) -> str:
    return f"{layout.summaries}/{kind.name}"


def read_pointer(store: ObjectStore, layout: OutputLayout, kind: SummaryKind) -> bytes | None:
    key = f"{summary_base(layout, kind)}/{POINTER}"
    try:
        return store.read_bytes(key) if store.exists(key) else None
    except FileNotFoundError:
        return None


def changed_files(store: ObjectStore, layout: OutputLayout, kind: SummaryKind) -> dict[str, float]:
    """Summarised file key -> its marker's last write, for every marker of this kind."""
    prefix, suffix = f"{layout.changes}/", MARKER_SUFFIX
    return {info.key[len(prefix):-len(suffix)]: info.modified
            for info in store.list(f"{layout.changes}/{kind.folder(layout)}") if info.key.endswith(kind.suffix + suffix)}


def _part(store: ObjectStore, layout: OutputLayout, kind: SummaryKind, pointer: dict[str, Any]) -> pa.Table:
    return pq.read_table(io.BytesIO(store.read_bytes(f"{summary_base(layout, kind)}/{pointer['part']}")))


def _rows_of(table: pa.Table, kind: SummaryKind) -> dict[str, Row]:
    columns = {name: table.column(name).to_pylist() for name in ("key", "group", *kind.fields)}
    return {key: (columns["group"][i], {f: columns[f][i] for f in kind.fields})
            for i, key in enumerate(columns["key"])}


def read_summary(store: ObjectStore, layout: OutputLayout, kind: SummaryKind, *, with_keys: bool = False) -> SummaryView:
    """The folder's totals (and keys): the last summary topped up by the files changed since."""
    for _ in range(READ_ATTEMPTS):
        raw_pointer = read_pointer(store, layout, kind)
        if raw_pointer is None:
            rows = scan(store, layout, kind)
            return SummaryView(totals_of(rows.values()), set(rows) if with_keys else None, False, len(rows))
        pointer = json.loads(raw_pointer)
        changed = changed_files(store, layout, kind)
        try:
            view = _topped_up(store, layout, kind, pointer, changed, with_keys)
        except FileNotFoundError:
            continue  # the part was replaced and cleaned up meanwhile: read the new one
        if read_pointer(store, layout, kind) == raw_pointer:
            return view
    raise SummaryRaced(f"summary {kind.name} kept changing while it was read")


def _topped_up(store: ObjectStore, layout: OutputLayout, kind: SummaryKind, pointer: dict[str, Any],
               changed: dict[str, float], with_keys: bool) -> SummaryView:
    totals: Totals = {g: dict(f) for g, f in pointer["totals"].items()}
    keys: set[str] | None = None
    part = _part(store, layout, kind, pointer) if (changed or with_keys) else None
    if with_keys and part is not None:
        keys = set(part.column("key").to_pylist())
    if changed and part is not None:
        wanted = pa.array(sorted(changed), pa.string())
        old = _rows_of(part.filter(pc.is_in(part.column("key"), value_set=wanted)), kind)
        for key in changed:
            if key in old:
                _add(totals, old[key], -1)
            row = kind.row(store, key)
            if row is not None:
                _add(totals, row)
            if keys is not None:
                (keys.add if row is not None else keys.discard)(key)
    return SummaryView(_without_zeros(totals), keys, True, len(changed))


def _without_zeros(totals: Totals) -> Totals:
    """A group every file left (all figures 0) reads as absent, as in a scan."""
    return {g: f for g, f in totals.items() if any(f.values())}


@dataclass
class SummaryCompaction:
    kind: str
    rows: int = 0
    files_read: int = 0
    markers_deleted: int = 0
    part: str = ""
    totals: Totals = field(default_factory=dict)


def store_now(store: ObjectStore, key: str) -> float:
    """The store's clock (markers are dated by it): write an object and read its date back."""
    store.write_bytes(key, str(time.time()).encode())
    return next(iter(store.list(key))).modified


@dataclass(frozen=True)
class Fold:
    """What a fold reads before it folds: its start on the store's clock, the summary it replaces
    (``before``, to detect a fold that finished first) and the markers it will clear."""

    kind: SummaryKind
    base: str
    started: float
    before: bytes | None
    previous: dict[str, Any]
    changed: dict[str, float]

    @property
    def scans(self) -> bool:
        return self.before is None


def begin_fold(store: ObjectStore, layout: OutputLayout, kind: SummaryKind) -> Fold:
    base = summary_base(layout, kind)
    started = store_now(store, f"{base}/clock")
    before = read_pointer(store, layout, kind)
    return Fold(kind, base, started, before, json.loads(before) if before is not None else {},
                changed_files(store, layout, kind))


def finish_fold(store: ObjectStore, layout: OutputLayout, fold: Fold, part: bytes, rows: int,
                report: SummaryCompaction, grace_s: float, **pointer: Any) -> SummaryCompaction:
    """Write the new part, then the pointer to it unless another fold finished first, then clear
    the folded markers and old parts (every step of which a crash may interrupt harmlessly)."""
    report.part = f"part-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
    store.write_bytes(f"{fold.base}/{report.part}", part)
    if read_pointer(store, layout, fold.kind) != fold.before:
        store.delete(f"{fold.base}/{report.part}")
        raise SummaryRaced(f"another compaction of {fold.kind.name} finished first")
    store.write_bytes(f"{fold.base}/{POINTER}", json.dumps(
        {"part": report.part, "folded_at": fold.started, "previous": fold.previous.get("part"), "rows": rows,
         **pointer}, sort_keys=True).encode())
    report.rows = rows
    report.markers_deleted = delete_folded_markers(store, layout, fold.changed, fold.started - grace_s)
    delete_old_parts(store, fold.base, {report.part, str(fold.previous.get("part"))}, fold.started - grace_s)
    return report


def compact_summary(store: ObjectStore, layout: OutputLayout, kind: SummaryKind, *,
                    grace_s: float = GRACE_S, rescan: bool = False) -> SummaryCompaction:
    """Fold the files changed since the last summary (all of them the first time, or with
    ``rescan``) into a new one."""
    fold = begin_fold(store, layout, kind)
    report = SummaryCompaction(kind.name)
    if fold.scans or rescan:
        rows = scan(store, layout, kind)
        report.files_read = len(rows)
    else:
        rows = _rows_of(_part(store, layout, kind, fold.previous), kind)
        for key in fold.changed:
            row = kind.row(store, key)
            if row is None:
                rows.pop(key, None)
            else:
                rows[key] = row
        report.files_read = len(fold.changed)
    report.totals = totals_of(rows.values())
    return finish_fold(store, layout, fold, _part_bytes(rows, kind), len(rows), report, grace_s,
                       totals=report.totals)


def delete_folded_markers(store: ObjectStore, layout: OutputLayout, changed: dict[str, float],
                           before: float) -> int:
    """Markers last written before ``before`` (this fold's start less the grace), re-checked."""
    deleted = 0
    for key, modified in changed.items():
        if modified >= before:
            continue
        marker = layout.change_marker_key(key)
        now = next(iter(store.list(marker)), None)
        if now is not None and now.modified < before:
            store.delete(marker)
            deleted += 1
    return deleted


def delete_old_parts(store: ObjectStore, base: str, keep: set[str], before: float) -> None:
    for info in list(store.list(base)):
        name = info.key.rsplit("/", 1)[-1]
        if name.startswith("part-") and name not in keep and info.modified < before:
            store.delete(info.key)


def _part_bytes(rows: dict[str, Row], kind: SummaryKind) -> bytes:
    keys = sorted(rows)
    columns: dict[str, Any] = {"key": pa.array(keys, pa.string()),
                               "group": pa.array([rows[k][0] for k in keys], pa.string())}
    for name in kind.fields:
        columns[name] = pa.array([int(rows[k][1].get(name, 0)) for k in keys], pa.int64())
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def compact_summaries(store: ObjectStore, layout: OutputLayout | None = None, *,
                      grace_s: float = GRACE_S, rescan: bool = False) -> list[SummaryCompaction]:
    """Fold every summarised folder (registry, page counts, bills)."""
    layout = layout or OutputLayout()
    return [compact_summary(store, layout, kind, grace_s=grace_s, rescan=rescan) for kind in KINDS]
