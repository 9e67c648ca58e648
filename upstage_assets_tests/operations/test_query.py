"""`upstage-assets query`: DuckDB over the Delta tables' current versions, as text, JSON or CSV."""

import json
from datetime import UTC, datetime
from decimal import Decimal

from upstage_assets.cli import main
from upstage_assets.operations.query import run_query, table_views
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.table_writer import DeltaTableWriter
from upstage_assets_tests.storage.rows import LAYOUT, table_row

NOW = datetime.now(UTC)


def _tables(root):
    store = LocalObjectStore(root)
    writer = DeltaTableWriter(store, LAYOUT)  # several commits: string filters must still work (no pushdown)
    writer.commit([table_row(f"{i:016x}", "0.10", NOW) for i in range(3)])
    writer.commit([table_row(f"{1:016x}", "0.20", NOW), table_row(f"{9:016x}", 0, NOW, quarantine=True)])
    return store


def test_sql_sees_one_row_per_document_and_exact_sums(tmp_path):
    store = _tables(tmp_path)
    assert table_views(store, LAYOUT) == {"invoice": "tables/invoice", "invoice_quarantine": "quarantine/invoice"}
    result = run_query(store, LAYOUT, "SELECT count(*) AS n, count(DISTINCT document_id) AS ids, sum(amount) AS total "
                                      "FROM invoice WHERE issuer LIKE 'Issuer %' AND document_id <> 'x'")
    assert result.to_pylist() == [{"n": 3, "ids": 3, "total": Decimal("0.4000")}]
    assert run_query(store, LAYOUT, "SELECT document_id FROM invoice_quarantine").to_pylist() == [
        {"document_id": f"{9:016x}"}]


def test_the_command_prints_a_table_json_or_csv(tmp_path, monkeypatch, capsys):
    _tables(tmp_path / "outputs")
    monkeypatch.setenv("UPSTAGE_ASSETS_OUTPUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("UPSTAGE_ASSETS_INBOX", str(tmp_path / "inbox"))
    sql = "SELECT document_id, amount FROM invoice ORDER BY document_id"
    assert main(["query", sql]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["document_id", "amount"] and "(3 rows)" in text
    assert main(["query", sql, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["amount"] for r in rows] == [0.1, 0.2, 0.1], "exact decimals as JSON numbers"
    assert main(["query", sql, "--csv"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ['"document_id","amount"', f'"{0:016x}",0.1000']
    assert main(["query", "SELECT * FROM no_such_table"]) == 2
    assert "query failed" in capsys.readouterr().err


def test_polars_reads_the_current_version_one_row_per_document(tmp_path):
    """Any Delta reader sees what `query` sees: here Polars, through the Delta log, not the files."""
    import polars as pl

    _tables(tmp_path)
    frame = pl.read_delta(str(tmp_path / "tables" / "invoice"))
    assert frame.height == 3 and frame["document_id"].n_unique() == 3
    amounts = dict(zip(frame["document_id"].to_list(), frame["amount"].to_list(), strict=True))
    assert amounts[f"{1:016x}"] == Decimal("0.2000"), "the newer commit's row, not a superseded file's"
    assert pl.read_delta(str(tmp_path / "quarantine" / "invoice"))["document_id"].to_list() == [f"{9:016x}"]
