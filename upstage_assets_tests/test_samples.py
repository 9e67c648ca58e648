"""The generated sample documents: files, text layer agrees with truth, images, determinism."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image

from upstage_assets.samples import TRUTH_FILE, Sample, generate_samples, load_truth

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "upstage_assets" / "schemas"


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    return generate_samples(tmp_path_factory.mktemp("samples"), seed=7, invoices=3, receipts=3)


def pdf_text(path: Path) -> str:
    document = pdfium.PdfDocument(str(path))
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def test_writes_a_pdf_and_an_image_per_document_and_truth(samples: list[Sample]) -> None:
    out_dir = samples[0].path.parent
    assert len(samples) == 12
    assert {s.path.suffix for s in samples} == {".pdf", ".jpg", ".png"}
    truth = load_truth(out_dir)
    assert set(truth) == {s.path.name for s in samples}
    for sample in samples:
        assert sample.path.stat().st_size > 500
        entry = truth[sample.path.name]
        assert entry["schema"] == sample.schema and entry["fields"] == sample.fields
        assert set(entry["printed"]) == set(sample.printed) <= set(sample.fields)


def test_truth_fields_match_the_builtin_schemas(samples: list[Sample]) -> None:
    for name in ("invoice", "receipt"):
        schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text())["json_schema"]["schema"]
        for sample in (s for s in samples if s.schema == name):
            assert set(sample.fields) == set(schema["properties"])
            assert set(schema["required"]) <= set(sample.fields)
            for field, spec in schema["properties"].items():
                value = sample.fields[field]
                expected = {"string": str, "number": float, "array": list}[spec["type"]]
                assert isinstance(value, expected), (field, value)
            assert len(sample.fields["date"]) == 10 and sample.fields["date"][4] == "-"


def test_invoice_amount_is_the_sum_of_lines_plus_tax(samples: list[Sample]) -> None:
    for sample in (s for s in samples if s.schema == "invoice"):
        lines = sample.fields["line_items"]
        assert lines
        for line in lines:
            assert line["amount"] == pytest.approx(line["quantity"] * line["unit_price"], abs=0.006)
        assert sample.fields["amount"] >= sum(line["amount"] for line in lines) - 0.001


def test_pdf_text_layer_contains_the_printed_truth(samples: list[Sample]) -> None:
    for sample in (s for s in samples if s.path.suffix == ".pdf"):
        text = " ".join(pdf_text(sample.path).split())
        assert sample.printed, sample.path
        for field, printed in sample.printed.items():
            assert printed in text, (sample.path.name, field, printed)
        if sample.schema == "receipt":
            assert sample.fields["address"].replace(",", "") in text.replace(",", "")


def test_images_decode_and_look_scanned(samples: list[Sample]) -> None:
    for sample in (s for s in samples if s.path.suffix != ".pdf"):
        with Image.open(sample.path) as image:
            image.load()
            assert image.mode == "L"
            assert image.width > 400 and image.height > 600
            extrema = image.getextrema()
            assert extrema[0] < 60 and extrema[1] > 200  # ink and paper both present


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_other_seed_other_values(tmp_path: Path) -> None:
    generate_samples(tmp_path / "a", seed=3, invoices=2, receipts=1)
    generate_samples(tmp_path / "b", seed=3, invoices=2, receipts=1)
    generate_samples(tmp_path / "c", seed=4, invoices=2, receipts=1)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert (tmp_path / "a" / TRUTH_FILE).read_text() != (tmp_path / "c" / TRUTH_FILE).read_text()


def test_cli_writes_samples(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "upstage_assets.samples", str(tmp_path), "--seed", "1",
         "--invoices", "1", "--receipts", "1"], capture_output=True, text=True, check=True, timeout=120,
    )
    assert "invoice_000.pdf" in result.stdout
    assert set(load_truth(tmp_path)) == {"invoice_000.pdf", "invoice_000.jpg", "receipt_000.pdf", "receipt_000.png"}
