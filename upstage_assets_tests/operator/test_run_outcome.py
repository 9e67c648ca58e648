"""Issue 22, defect 10: why a run failed, quarantine breaches, permanent failures, skipped files, export."""

from __future__ import annotations

import json

import pytest

from upstage_assets.cli import main


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_the_operator_reads_why_and_permanent_failures_are_left_alone(capsys, data_root, tmp_path, monkeypatch):
    """Local engine: text-only PDFs without invoice fields are quarantined, one corrupt PDF fails."""
    from upstage_assets_tests.emulator.conftest import make_pdf

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    docs = data_root / "incoming"
    docs.mkdir()
    for i in range(3):
        (docs / f"note-{i}.pdf").write_bytes(make_pdf(1, lines=(f"just a note {i}",)))
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    (docs / "empty.pdf").write_bytes(b"")
    (docs / "readme.txt").write_text("not a document")

    code, out, err = cli(capsys, "ingest", str(docs), "--wait", "--no-progress", "--json")
    outcome = json.loads(out)
    assert code == 1 and len(outcome["failed"]) == 1
    # "N skipped" names each file and why
    assert f"skipped {docs / 'empty.pdf'}: zero-byte object" in err
    assert f"skipped {docs / 'readme.txt'}: suffix not in the configured document types" in err
    # why the run failed, and the quarantine breach (which fails the check, not the run)
    (run_id,) = [r["run_id"] for r in outcome["runs"]]
    problems = outcome["run_problems"][run_id]
    assert any(p.startswith("step document_pipeline failed: 1 of 4 documents failed") for p in problems), problems
    assert any(p.startswith("check quarantine_rate_within_limit failed: 100% of 3 validated documents quarantined")
               for p in problems), problems
    assert all(f"run {run_id[:8]} failed: {p}" in err for p in problems), err

    # quarantine only: the run succeeds, the check fails, the command says so and exits 0
    more = data_root / "more"
    more.mkdir()
    (more / "note-9.pdf").write_bytes(make_pdf(1, lines=("another note",)))
    code, out, err = cli(capsys, "ingest", str(more), "--wait", "--no-progress", "--json")
    outcome = json.loads(out)
    assert code == 0 and outcome["runs"][0]["success"] and not outcome["failed"], err
    assert "succeeded: check quarantine_rate_within_limit failed: 100% of 1" in err

    # a later ingest leaves the permanently failed document alone unless asked
    code, out, err = cli(capsys, "ingest", str(docs), "--wait", "--no-progress", "--json")
    again = json.loads(out)
    assert again["to_process"] == 0 and len(again["permanent_left_out"]) == 1 and not again["runs"]
    assert "--include-permanent" in err
    code, out, _ = cli(capsys, "ingest", str(docs), "--register-only", "--include-permanent", "--json",
                       "--no-progress")
    assert json.loads(out)["to_process"] == 1
    # status does not suggest retry-failed for it
    code, out, _ = cli(capsys, "status")
    assert "re-run the" not in out and "retry-failed --include-permanent" in out
    code, out, _ = cli(capsys, "retry-failed", "--dry-run")
    assert out.strip() == "nothing to retry"

    # export says how many rows it left out
    code, out, err = cli(capsys, "export", "--format", "csv", "--out", str(tmp_path / "csv"), "--json",
                         "--no-progress")
    assert json.loads(out)["quarantined_left_out"] == 4
    assert "left out 4 quarantined rows" in err
