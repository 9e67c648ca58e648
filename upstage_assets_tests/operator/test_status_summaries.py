"""``status`` from summaries (``storage/summaries.py``) says exactly what a full scan of the files says."""

from __future__ import annotations

import shutil

import pytest

from .conftest import write_pdfs


def _scanned_status(operator) -> dict:
    """What status says with no summary at all: every file read (the summaries put back after)."""
    summaries = operator.data_root / "outputs" / "summaries"
    kept = operator.data_root / "kept-summaries"
    shutil.move(summaries, kept)
    try:
        return operator.cli_json("status")[1]
    finally:
        shutil.move(kept, summaries)


@pytest.mark.slow
def test_status_reads_the_same_before_and_after_compactions_and_new_documents(operator):
    write_pdfs(operator.data_root / "first", 2, prefix="first", pages=2)
    code, outcome, err = operator.cli_json("ingest", str(operator.data_root / "first"), "--wait", "--no-progress")
    assert outcome["done"] == 2, err
    before = operator.cli_json("status")[1]
    code, folded, _ = operator.cli_json("compact-summaries")
    assert code == 0 and {r["kind"] for r in folded} == {"usage", "pages", "registered", "failures"}
    assert operator.cli_json("status")[1] == before, "the summary alone says what the files said"

    write_pdfs(operator.data_root / "second", 3, prefix="second", pages=1)  # written after the fold
    code, outcome, err = operator.cli_json("ingest", str(operator.data_root / "second"), "--wait", "--no-progress")
    assert outcome["done"] == 3, err
    topped_up = operator.cli_json("status")[1]
    assert topped_up["documents"] == 5 and topped_up["pages"] == 7
    assert topped_up["pages_billed"] == {"parse": 7, "classification": 7, "extraction": 7}  # each page classified once
    assert topped_up == _scanned_status(operator)
    operator.cli_json("compact-summaries")
    assert operator.cli_json("status")[1] == topped_up


@pytest.mark.slow
def test_ingest_wait_folds_the_summaries_and_status_still_reads_as_a_scan(operator):
    """With the schedules stopped nothing else folds: ``ingest --wait`` does, after its runs, and the
    failures are folded too (``storage/failures.py``)."""
    folder = operator.data_root / "mixed"
    write_pdfs(folder, 2, prefix="ok", pages=1)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a PDF body")
    code, outcome, err = operator.cli_json("ingest", str(folder), "--wait", "--no-progress")
    assert outcome["done"] == 2, err
    assert "summaries folded" in err
    summaries = operator.data_root / "outputs" / "summaries"
    for kind in ("usage", "pages", "registered", "failures"):
        assert (summaries / kind / "current.json").exists(), kind
    status = operator.cli_json("status")[1]
    assert status["failed"] == 1 and status["done"]["validated_documents"] == 2, status
    assert status == _scanned_status(operator)
    operator.cli_json("compact-summaries")
    assert operator.cli_json("status")[1] == status
