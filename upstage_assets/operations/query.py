"""SQL over the result tables with DuckDB, reading them as Arrow datasets.

Each Delta table's current version is read through the one table reader
(``storage/tables.py``, a ``pyarrow.dataset`` scan) and handed to DuckDB as Arrow data, not
through DuckDB's own delta extension, which downloads itself at first use and cannot be relied
on offline. The scan is whole (no filter pushed into pyarrow: see ``storage/tables.py`` on
``string_view``); DuckDB then filters, joins and aggregates in memory. Views are named after the schema (``invoice``) and
``<schema>_quarantine`` for the quarantine tables.
"""

from __future__ import annotations

import pyarrow as pa

from upstage_assets.storage.delta import table_names
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.tables import read_table


def table_views(store: ObjectStore, layout: OutputLayout) -> dict[str, str]:
    """View name -> ``<area>/<schema>`` for every Delta table of the store."""
    views = {name: f"{layout.tables}/{name}" for name in table_names(store, layout.tables)}
    views.update({f"{name}_quarantine": f"{layout.quarantine}/{name}"
                  for name in table_names(store, layout.quarantine)})
    return views


def run_query(store: ObjectStore, layout: OutputLayout, sql: str) -> pa.Table:
    """The result of ``sql`` with every table registered as a view."""
    import duckdb

    connection = duckdb.connect(":memory:")
    try:
        for view, path in table_views(store, layout).items():
            area, _, schema = path.partition("/")
            connection.register(view, read_table(store, area, schema))
        return connection.sql(sql).to_arrow_table()
    finally:
        connection.close()


def format_table(table: pa.Table, max_width: int = 40) -> str:
    """A plain aligned text table (what a terminal user reads)."""
    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return text if len(text) <= max_width else text[:max_width - 1] + "…"

    rows = [[cell(v) for v in row.values()] for row in table.to_pylist()]
    header = table.column_names
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.append(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})")
    return "\n".join(lines)
