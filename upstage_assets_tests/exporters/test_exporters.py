"""Exporters over a real result store: tables in four formats, Markdown, and LMDB line crops."""

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import lmdb
import pyarrow.parquet as pq
from fpdf import FPDF
from PIL import Image

from upstage_assets.exporters import EXPORTERS, ExportSource
from upstage_assets.ingest.naming import document_id_for_bytes, sha256_hex
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.registry import DocumentRecord, DocumentRegistry
from upstage_assets.storage.table_writer import DeltaTableWriter
from upstage_assets_tests.storage.rows import LAYOUT, row_bytes, table_row

PAGE_W_MM, PAGE_H_MM = 210.0, 297.0
LINES = [("INVOICE No. 2024-0113", 20, 30), ("Total due: 1,234.50 EUR", 20, 60)]


def _pdf_with_lines() -> bytes:
    pdf = FPDF(unit="mm", format="A4")
    pdf.add_page()
    pdf.set_font("helvetica", size=16)
    for text, x, y in LINES:
        pdf.set_xy(x, y)
        pdf.cell(w=pdf.get_string_width(text), h=10, text=text)
    return bytes(pdf.output())


def _element(index: int, text: str, x_mm: float, y_mm: float, width_mm: float, category: str = "paragraph"):
    x0, y0, x1, y1 = x_mm / PAGE_W_MM, y_mm / PAGE_H_MM, (x_mm + width_mm) / PAGE_W_MM, (y_mm + 10) / PAGE_H_MM
    return {"id": index, "category": category, "page": 1,
            "content": {"text": text, "markdown": text, "html": f"<p>{text}</p>"},
            "coordinates": [{"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}, {"x": x0, "y": y1}]}


def _store_with_one_document(tmp_path):
    """A registered PDF with its raw and parsed results, as the pipeline stores them."""
    data = _pdf_with_lines()
    source_path = tmp_path / "src" / "invoice.pdf"
    source_path.parent.mkdir()
    source_path.write_bytes(data)
    store = LocalObjectStore(tmp_path / "outputs")
    document_id = document_id_for_bytes(data)
    DocumentRegistry(store, LAYOUT).put(DocumentRecord(document_id, str(source_path), sha256_hex(data), len(data),
                                                       "invoice.pdf", "invoice"))
    store.write_bytes(LAYOUT.raw_key(document_id), json.dumps({"mime_type": "application/pdf", "page_count": 1}).encode())
    pdf = FPDF(unit="mm", format="A4")
    pdf.set_font("helvetica", size=16)
    elements = [_element(i, text, x, y, pdf.get_string_width(text)) for i, (text, x, y) in enumerate(LINES)]
    elements.append(_element(9, "two\nlines", 20, 100, 30))  # multi-line: no per-line boxes, left out
    elements.append(_element(10, "a | table", 20, 150, 30, "table"))
    markdown = "# INVOICE No. 2024-0113\n\nTotal due: 1,234.50 EUR"
    store.write_bytes(LAYOUT.parsed_key(document_id), json.dumps(
        {"api": "2.0", "content": {"markdown": markdown}, "elements": elements, "usage": {"pages": 1}}).encode())
    return ExportSource(store, LAYOUT, lambda uri: open(uri, "rb").read()), document_id


def test_lmdb_holds_one_crop_per_single_line_element_with_its_text(tmp_path):
    source, _ = _store_with_one_document(tmp_path)
    result = EXPORTERS["lmdb"](source, tmp_path / "ocr.lmdb")
    assert result.records == 2
    env = lmdb.open(str(tmp_path / "ocr.lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.get(b"num-samples") == b"2"
        labels = [txn.get(f"label-{i:09d}".encode()).decode() for i in (1, 2)]
        images = [Image.open(io.BytesIO(txn.get(f"image-{i:09d}".encode()))) for i in (1, 2)]
        assert txn.get(b"image-000000003") is None
    assert labels == [text for text, _, _ in LINES]
    for image in images:
        grey = image.convert("L")
        assert grey.width > 4 * grey.height, "a line crop is wide and short"
        dark = sum(1 for p in grey.getdata() if p < 128)
        assert dark > 0.02 * grey.width * grey.height, "the crop holds the printed text, not blank paper"


def test_markdown_writes_one_file_per_parsed_document(tmp_path):
    source, document_id = _store_with_one_document(tmp_path)
    result = EXPORTERS["markdown"](source, tmp_path / "md")
    (path,) = result.files
    assert path.name == f"{document_id}.md"
    text = path.read_text()
    assert "# INVOICE No. 2024-0113" in text and f"document_id: {document_id}" in text


def test_tables_export_one_latest_row_per_document_in_each_format(tmp_path):
    store = LocalObjectStore(tmp_path / "outputs")
    ids = [f"{i:016x}" for i in range(3)]
    writer = DeltaTableWriter(store, LAYOUT)
    writer.commit([table_row(d, "10.00", datetime(2024, 1, 1, tzinfo=UTC)) for d in ids])
    writer.commit([table_row(ids[0], "42.10", datetime(2025, 1, 1, tzinfo=UTC))])  # ids[0] re-run
    source = ExportSource(store, LAYOUT, lambda uri: b"")
    out = tmp_path / "export"

    parquet = pq.read_table(EXPORTERS["parquet"](source, out).files[0])
    assert sorted(parquet.column("document_id").to_pylist()) == ids
    amounts = dict(zip(parquet.column("document_id").to_pylist(), parquet.column("amount").to_pylist(),
                       strict=True))
    assert amounts[ids[0]] == Decimal("42.1000")

    with EXPORTERS["csv"](source, out).files[0].open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["document_id"] for r in rows) == ids
    confidence = json.loads(next(r for r in rows if r["document_id"] == ids[1])["field_confidence"])
    assert confidence["amount"] == 0.8
    assert next(r for r in rows if r["document_id"] == ids[0])["amount"] == "42.1000"

    lines = EXPORTERS["jsonl"](source, out).files[0].read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert sorted(r["document_id"] for r in records) == ids
    assert isinstance(records[0]["field_confidence"], dict)
    assert next(r for r in records if r["document_id"] == ids[0])["amount"] == 42.1, "a JSON number, exact"


def test_one_unreadable_source_is_skipped_and_reported_the_rest_exported(tmp_path):
    """A table folder not yet migrated to Delta and a parsed JSON that is not JSON each cost only themselves."""
    source, document_id = _store_with_one_document(tmp_path)
    store = source.store
    good = [f"{i:016x}" for i in range(2)]
    DeltaTableWriter(store, LAYOUT).commit([table_row(d, "10", datetime(2024, 1, 1, tzinfo=UTC)) for d in good])
    key, data = row_bytes("f" * 16, 10.0, datetime(2024, 1, 1, tzinfo=UTC))
    store.write_bytes(key.replace("/invoice/", "/receipt/"), data)  # the old layout, in another table
    torn = f"{LAYOUT.tables}/receipt"
    store.write_bytes(LAYOUT.parsed_key("e" * 16), b'{"content": ')  # cut short
    DocumentRegistry(store, LAYOUT).put(DocumentRecord("e" * 16, "/nowhere.pdf", "0" * 64, 1, "x.pdf", "invoice"))

    parquet = EXPORTERS["parquet"](source, tmp_path / "export")
    assert parquet.records == 2 and [key for key, _ in parquet.skipped] == [torn]
    assert "migrate-tables" in parquet.skipped[0][1]

    markdown = EXPORTERS["markdown"](source, tmp_path / "md")
    assert [p.name for p in markdown.files] == [f"{document_id}.md"]
    assert [d for d, _ in markdown.skipped] == ["e" * 16] and "JSONDecodeError" in markdown.skipped[0][1]

    crops = EXPORTERS["lmdb"](source, tmp_path / "ocr.lmdb")
    assert crops.records == 2 and ("e" * 16) in [d for d, _ in crops.skipped]
