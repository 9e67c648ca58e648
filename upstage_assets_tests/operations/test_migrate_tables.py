"""`upstage-assets migrate-tables`: a folder written the old way becomes a Delta table."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from upstage_assets.cli import main
from upstage_assets.operations.migrate_tables import migrate_tables
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.tables import read_tables
from upstage_assets_tests.storage.rows import LAYOUT, SCHEMA, row_bytes, row_table

OLD = datetime.now(UTC) - timedelta(days=2)
NEW = datetime.now(UTC) - timedelta(days=1)


def old_layout(store) -> list[str]:
    """What the old pipeline and compaction left: a part with three documents, a re-run of one
    (newer file), a document quarantined after it was compacted, and a plain one-row file."""
    ids = [f"{i:016x}" for i in range(5)]
    part = pa.concat_tables([row_table(d, "10.10", OLD) for d in ids[:3]])
    part = part.set_column(part.column_names.index("amount"), pa.field("amount", pa.float64()),
                           part.column("amount").cast(pa.float64()))
    buffer = io.BytesIO()
    pq.write_table(part, buffer)
    store.write_bytes(f"{LAYOUT.tables}/{SCHEMA.name}/part-20260101T000000-0a1b2c3d-00000.parquet", buffer.getvalue())
    store.write_bytes(*row_bytes(ids[1], 0.1 + 0.2, NEW))  # re-run: float64 0.30000000000000004
    store.write_bytes(*row_bytes(ids[2], 0.0, NEW, quarantine=True))  # quarantined after compaction
    store.write_bytes(*row_bytes(ids[3], 7.0, NEW))
    store.write_bytes(*row_bytes(ids[4], 0.0, OLD, quarantine=True))
    return ids


def test_an_old_folder_becomes_a_delta_table_with_one_row_per_document(tmp_path):
    store = LocalObjectStore(tmp_path)
    ids = old_layout(store)
    reports = migrate_tables(store, LAYOUT)
    assert [(r.schema, r.files, r.rows_read, r.documents) for r in reports] == [(SCHEMA.name, 5, 7, 5)]
    table = read_tables(store, LAYOUT)[SCHEMA.name]
    assert {r["document_id"]: r["amount"] for r in table.to_pylist()} == {
        ids[0]: Decimal("10.1000"), ids[1]: Decimal("0.3000"), ids[3]: Decimal("7.0000")}
    assert table.schema.field("amount").type == pa.decimal128(18, 4)
    quarantine = read_tables(store, LAYOUT, area=LAYOUT.quarantine)[SCHEMA.name]
    assert sorted(quarantine.column("document_id").to_pylist()) == [ids[2], ids[4]]
    leftovers = [p.name for p in (tmp_path / "tables" / SCHEMA.name).glob("*.parquet")
                 if not p.name.startswith("part-0")]
    assert leftovers == [], "the old files are gone once their rows are committed"
    assert migrate_tables(store, LAYOUT) == [], "running it again finds nothing to do"


def test_the_command_migrates_the_configured_output_root(tmp_path, monkeypatch, capsys):
    outputs = tmp_path / "outputs"
    old_layout(LocalObjectStore(outputs))
    monkeypatch.setenv("UPSTAGE_ASSETS_OUTPUT", str(outputs))
    monkeypatch.setenv("UPSTAGE_ASSETS_INBOX", str(tmp_path / "inbox"))
    assert main(["migrate-tables"]) == 0
    assert "5 documents" in capsys.readouterr().err
    assert main(["query", "SELECT count(*) AS n FROM invoice", "--json"]) == 0
    assert '"n": 3' in capsys.readouterr().out
