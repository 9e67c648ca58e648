"""The operator's happy path on the local engine: ingest --wait, status, every export format."""

import json
import shutil

import lmdb
import pyarrow.parquet as pq
import pytest

from upstage_assets.cli import main


@pytest.fixture
def pdf_folder(data_root, sample_documents):
    """The session's generated samples, born-digital PDFs only (text layer: fast), in schema folders."""
    folder = data_root / "incoming"
    for sample in sample_documents:
        if sample.path.suffix == ".pdf":
            (folder / sample.schema).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sample.path, folder / sample.schema / sample.path.name)
    return folder


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_ingest_status_and_export_on_the_local_engine(capsys, data_root, pdf_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    count = len(list(pdf_folder.rglob("*.pdf")))

    code, out, err = run_cli(capsys, "ingest", str(pdf_folder), "--wait", "--json", "--no-progress")
    outcome = json.loads(out)
    assert code == 0, err
    assert outcome["registered"] == count and outcome["done"] == count and not outcome["failed"]

    code, out, _ = run_cli(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 0
    assert status["done"] == {key: count for key in status["done"]}
    assert status["pages"] >= count and status["failed"] == 0
    assert sum(status["rows"].values()) + sum(status["quarantined"].values()) == count

    exports = tmp_path / "exports"
    for fmt in ("parquet", "csv", "jsonl", "markdown", "lmdb"):
        code, out, err = run_cli(capsys, "export", "--format", fmt, "--out", str(exports / fmt), "--json",
                                 "--no-progress", "--include-quarantine")
        assert code == 0, (fmt, err)
        assert json.loads(out)["records"] > 0, fmt
    rows = sum(pq.read_table(p).num_rows for p in (exports / "parquet").glob("*.parquet"))
    assert rows == count
    assert len(list((exports / "markdown").glob("*.md"))) == count
    with lmdb.open(str(exports / "lmdb"), readonly=True, lock=False).begin() as txn:
        samples = int(txn.get(b"num-samples"))
        assert samples >= count
        assert all(txn.get(f"label-{i:09d}".encode()) for i in range(1, samples + 1))

    code, out, _ = run_cli(capsys, "ingest", str(pdf_folder), "--wait", "--json", "--no-progress")
    again = json.loads(out)
    assert code == 0 and again["to_process"] == 0 and again["already_registered"] == count
