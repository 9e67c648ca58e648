"""One document never takes its batch down (issue: real PDFs whose text layer holds lone surrogates).

Every exception one document raises, not only ``DocumentError``, becomes that document's recorded
``internal_error``; the other documents of the batch finish; ``status`` accounts for every
registered document (failed, or unfinished when a run died without recording anything) and
``retry-failed`` processes exactly those, resuming at the stage each reached.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from dagster import AssetKey, DagsterInstance, materialize
from fpdf import FPDF

from upstage_assets.cli import main
from upstage_assets.defs.pipeline import document_pipeline as pipeline_module
from upstage_assets.defs.pipeline.document_pipeline import build_document_pipeline
from upstage_assets.defs.pipeline.stages import load_record
from upstage_assets.defs.resources import build_resources
from upstage_assets.local_engine.document_parse import parse_document
from upstage_assets.settings import Settings
from upstage_assets.storage.failures import read_failures
from upstage_assets.unicode_text import valid_text, valid_unicode
from upstage_assets_tests.pipeline.hostile_pdfs import surrogate_pdf

ORIGINAL_STAGES = pipeline_module.STAGES
RAW, PARSED, KIE = AssetKey("raw_documents"), AssetKey("parsed_layouts"), AssetKey("kie_fields")
VALIDATED = AssetKey("validated_documents")


def invoice_pdf(number: int) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    for line in ("INVOICE", f"Invoice No: INV-{number:04d}", "Date: 2024-03-05", f"Total: {number}.50"):
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli_home(data_root, tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def inject_failure(monkeypatch, stage_key: AssetKey, filename: str, exc: BaseException) -> None:
    """Make one stage raise ``exc`` for the document named ``filename``, and only for it."""
    stages = []
    for key, stage in pipeline_module.STAGES:
        if key == stage_key:
            async def failing(env, state, _stage=stage):
                record = await load_record(env, state)
                if record.filename == filename:
                    raise exc
                return await _stage(env, state)
            stages.append((key, failing))
        else:
            stages.append((key, stage))
    monkeypatch.setattr(pipeline_module, "STAGES", tuple(stages))


def materializations(instance: DagsterInstance, asset: AssetKey, partition: str) -> int:
    from dagster import AssetRecordsFilter

    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset, asset_partitions=[partition]), limit=100).records
    return len(records)


def rows_by_document(output: Path) -> dict[str, str]:
    """document_id -> 'validated' | 'quarantined' for every row written."""
    from upstage_assets.operations.reporting import read_tables

    found = {}
    for area, label in (("tables", "validated"), ("quarantine", "quarantined")):
        for table in read_tables(output, area).values():
            for document_id in table.column("document_id").to_pylist():
                found[document_id] = label
    return found


def test_text_layer_surrogates_are_joined_or_replaced_never_raised():
    parsed = parse_document(surrogate_pdf(), mime_type="application/pdf")
    text = parsed["content"]["text"]
    assert "\U0001d44e" in text, "a valid surrogate pair (mathematical italic a) is one character"
    assert "\U000f0001" in text, "a plane-15 private-use character comes through"
    assert "\ufffd" in text, "lone surrogates become U+FFFD"
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    json.dumps(parsed, ensure_ascii=False).encode("utf-8")  # what storing it does


def test_valid_unicode_joins_pairs_and_replaces_the_rest_everywhere_in_a_structure():
    assert valid_text("x\ud835\udc4ey") == "x\U0001d44ey"
    assert valid_text("\udc00\ud800") == "\ufffd\ufffd"
    assert valid_text("nul\x00") == "nul\ufffd"
    cleaned = valid_unicode({"k\ud800": ["\udfff", {"n": 1, "s": "ok"}], "t": ("\ud835\udc4e",)})
    assert cleaned == {"k\ufffd": ["\ufffd", {"n": 1, "s": "ok"}], "t": ["\U0001d44e"]}
    pa.array([cleaned["t"][0]])  # Arrow accepts it


@pytest.mark.slow
def test_a_pdf_with_lone_surrogates_goes_through_with_its_batch(capsys, cli_home, data_root):
    inbox = data_root / "incoming"
    inbox.mkdir()
    (inbox / "hostile.pdf").write_bytes(surrogate_pdf("hostile"))
    for number in range(3):
        (inbox / f"invoice-{number}.pdf").write_bytes(invoice_pdf(number))
    code, out, err = run_cli(capsys, "ingest", str(inbox), "--wait", "--json", "--no-progress")
    outcome = json.loads(out)
    assert outcome["done"] == 4 and not outcome["failed"], (outcome, err)
    parsed = [json.loads(p.read_text(encoding="utf-8")) for p in (data_root / "outputs" / "parsed").glob("*.json")]
    assert any("\U0001d44e" in p["content"]["text"] for p in parsed)
    assert len(rows_by_document(data_root / "outputs")) == 4


UNEXPECTED = [
    KeyError("fields"),
    IndexError("list index out of range"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    pa.ArrowInvalid("Could not convert 'x' with type str: tried to convert to double"),
]


@pytest.mark.slow
@pytest.mark.parametrize("exc", UNEXPECTED, ids=lambda e: type(e).__name__)
def test_an_unexpected_exception_fails_only_its_document(data_root, dagster_instance, monkeypatch, exc):
    from upstage_assets.ingest.folder import register_objects
    from upstage_assets.storage.object_store import LocalObjectStore, ObjectInfo

    inbox = LocalObjectStore(data_root / "inbox")
    files = {f"invoice-{n}.pdf": invoice_pdf(n) for n in range(10)}
    for name, data in files.items():
        inbox.write_bytes(name, data)
    resources = build_resources(Settings.from_env(backend="local"))
    registered = register_objects(inbox, resources["storage"].registry(),
                                  [ObjectInfo(n, len(d), "1") for n, d in files.items()], default_schema="invoice")
    ids = {r.filename: r.document_id for r in registered.new_records}
    keys = sorted(ids.values())
    dagster_instance.add_dynamic_partitions("documents", keys)
    inject_failure(monkeypatch, KIE, "invoice-3.pdf", exc)

    result = materialize([build_document_pipeline(Settings())], instance=dagster_instance, resources=resources,
                         raise_on_error=False, tags={"dagster/asset_partition_range_start": keys[0],
                                                     "dagster/asset_partition_range_end": keys[-1]})
    assert not result.success  # the step reports its failed document...
    rows = rows_by_document(data_root / "outputs")
    assert set(rows) == set(keys) - {ids["invoice-3.pdf"]}  # ...and the nine others are done
    failures = read_failures(LocalObjectStore(data_root / "outputs"), resources["storage"].layout).to_pylist()
    assert len(failures) == 1
    failure = failures[0]
    assert failure["document_id"] == ids["invoice-3.pdf"]
    assert failure["error_code"] == "internal_error" and failure["retryable"] is True
    assert failure["stage"] == "kie_fields" and failure["error_class"] == type(exc).__name__
    assert type(exc).__name__ in failure["message"]
    step_failure = result.get_step_failure_events()[0].step_failure_data
    listing = step_failure.user_failure_data.metadata["failures"].value
    assert ids["invoice-3.pdf"] in listing and "internal_error" in listing
    assert "1 of 10 documents failed" in step_failure.error.message


class WorkerDied(BaseException):
    """Stands for what no in-process boundary catches: the worker process dying mid-batch."""


@pytest.mark.slow
def test_status_accounts_for_every_document_and_retry_failed_finishes_them(capsys, cli_home, data_root,
                                                                          monkeypatch):
    inbox = data_root / "incoming"
    inbox.mkdir()
    for number in range(10):
        (inbox / f"invoice-{number}.pdf").write_bytes(invoice_pdf(number))

    # One document raises a KeyError in kie_fields: recorded, the other nine finish.
    inject_failure(monkeypatch, KIE, "invoice-3.pdf", KeyError("fields"))
    code, out, _ = run_cli(capsys, "ingest", str(inbox), "--wait", "--json", "--no-progress")
    assert code == 1
    assert json.loads(out)["done"] == 9
    code, out, _ = run_cli(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 1 and status["failed"] == 1 and status["unfinished"] == 0
    assert status["failures"][0]["error_code"] == "internal_error"
    assert status["failures"][0]["stage"] == "kie_fields"
    failed_id = status["failures"][0]["document_id"]
    code, out, _ = run_cli(capsys, "status")
    assert "KeyError" in out and "internal_error" in out

    # Fixed: retry-failed runs exactly it, from kie_fields on (raw and parse are not redone).
    monkeypatch.setattr(pipeline_module, "STAGES", ORIGINAL_STAGES)
    code, out, err = run_cli(capsys, "retry-failed", "--wait", "--json", "--no-progress")
    outcome = json.loads(out)
    assert code == 0, err
    assert outcome["failed"] == 1 and outcome["unfinished"] == 0
    assert [r["documents"] for r in outcome["runs_planned"]] == [1]
    instance = DagsterInstance.get()
    assert materializations(instance, RAW, failed_id) == 1
    assert materializations(instance, KIE, failed_id) == 1
    code, out, _ = run_cli(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["failed"] == 0 and status["unfinished"] == 0
    assert len(rows_by_document(data_root / "outputs")) == 10


@pytest.mark.slow
def test_documents_left_in_limbo_by_a_dead_worker_are_reported_and_retried(capsys, cli_home, data_root,
                                                                          monkeypatch):
    inbox = data_root / "incoming"
    inbox.mkdir()
    for number in range(6):
        (inbox / f"invoice-{number}.pdf").write_bytes(invoice_pdf(number))
    # Something no boundary inside the process can catch ends the step while documents are
    # half-way: the dying document records nothing. (Others cancelled on the way out may record
    # their own interruption as a failure; either way every document is accounted for.)
    inject_failure(monkeypatch, PARSED, "invoice-2.pdf", WorkerDied())
    code, _, _ = run_cli(capsys, "ingest", str(inbox), "--wait", "--json", "--no-progress")
    assert code == 1
    monkeypatch.setattr(pipeline_module, "STAGES", ORIGINAL_STAGES)

    code, out, _ = run_cli(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 1
    assert status["unfinished"] >= 1
    assert status["unfinished"] + status["failed"] == 6 - status["done"]["validated_documents"]
    dead = next(p.stem for p in (data_root / "outputs" / "registry").glob("*.json")
                if json.loads(p.read_text())["filename"] == "invoice-2.pdf")
    assert dead in status["unfinished_documents"]
    code, out, _ = run_cli(capsys, "status")
    assert f"unfinished: {status['unfinished']}" in out and dead in out

    code, out, err = run_cli(capsys, "retry-failed", "--wait", "--json", "--no-progress")
    outcome = json.loads(out)
    assert code == 0, err
    assert outcome["unfinished"] == status["unfinished"] and outcome["failed"] == status["failed"]
    assert outcome["still_failed"] == []
    code, out, _ = run_cli(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["unfinished"] == 0 and status["failed"] == 0
    assert len(rows_by_document(data_root / "outputs")) == 6
    instance = DagsterInstance.get()
    raw_counts = {key: materializations(instance, RAW, key) for key in instance.get_dynamic_partitions("documents")}
    assert set(raw_counts.values()) == {1}, raw_counts  # resumed, not redone


def test_an_object_that_cannot_be_read_is_reported_and_looked_at_again(data_root, monkeypatch):
    """Registration's boundary: one unreadable inbox file is recorded and retried next pass."""
    from upstage_assets.ingest.folder import scan_inbox
    from upstage_assets.storage.object_store import LocalObjectStore

    inbox, output = LocalObjectStore(data_root / "inbox"), LocalObjectStore(data_root / "outputs")
    for number in range(3):
        inbox.write_bytes(f"invoice-{number}.pdf", invoice_pdf(number))
    registry = build_resources(Settings.from_env(backend="local"))["storage"].registry()
    real_read = LocalObjectStore.read_bytes

    def flaky_read(self, key):
        if key == "invoice-1.pdf":
            raise PermissionError(13, "Permission denied")
        return real_read(self, key)

    monkeypatch.setattr(LocalObjectStore, "read_bytes", flaky_read)
    first = scan_inbox(inbox, output, registry, default_schema="invoice")
    assert len(first.new_records) == 2
    assert [uri.rsplit("/", 1)[-1] for uri, _ in first.skipped] == ["invoice-1.pdf"]
    assert "PermissionError" in first.skipped[0][1]
    failures = read_failures(output, registry.layout).to_pylist()
    assert [f["error_code"] for f in failures] == ["source_unavailable"] and failures[0]["retryable"]

    monkeypatch.setattr(LocalObjectStore, "read_bytes", real_read)
    second = scan_inbox(inbox, output, registry, default_schema="invoice")
    assert [r.filename for r in second.new_records] == ["invoice-1.pdf"]
    assert read_failures(output, registry.layout).num_rows == 0
