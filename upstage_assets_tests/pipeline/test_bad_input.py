"""Bad input is recorded against its document, never stops the others, and can be retried.

Runs only the ``raw_documents`` stage (where inspection refuses bad bytes before anything is
paid for), through real Dagster runs on a temporary instance.
"""


from dagster import AssetKey, materialize
from fpdf import FPDF

from upstage_assets.defs.pipeline.document_pipeline import build_document_pipeline
from upstage_assets.defs.resources import build_resources
from upstage_assets.ingest.folder import register_objects
from upstage_assets.settings import Settings
from upstage_assets.storage.failures import read_failures
from upstage_assets.storage.object_store import LocalObjectStore, ObjectInfo

RAW = AssetKey("raw_documents")


def pdf_bytes(pages: int, password: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for i in range(pages):
        pdf.add_page()
        pdf.cell(text=f"Invoice page {i + 1}")
    if password:
        pdf.set_encryption(owner_password="o", user_password=password)
    return bytes(pdf.output())


def register(data_root, files: dict[str, bytes]) -> dict[str, str]:
    inbox = LocalObjectStore(data_root / "inbox")
    for name, data in files.items():
        inbox.write_bytes(name, data)
    resources = build_resources(Settings.from_env(backend="local"))
    infos = [ObjectInfo(name, len(data), "1") for name, data in files.items()]
    result = register_objects(inbox, resources["storage"].registry(), infos, default_schema="invoice")
    return {r.filename: r.document_id for r in result.new_records}


def run_raw(instance, keys, **config):
    resources = build_resources(Settings.from_env(backend="local"))
    return materialize(
        [build_document_pipeline(Settings())], selection=[RAW], instance=instance, resources=resources, raise_on_error=False,
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        run_config={"ops": {"document_pipeline": {"config": config}}} if config else None,
    )


def test_bad_documents_fail_alone_with_specific_errors_and_can_be_retried(data_root, dagster_instance):
    files = {
        "good.pdf": pdf_bytes(1),
        "two-pages.pdf": pdf_bytes(2),
        "locked.pdf": pdf_bytes(1, password="secret"),
        "page.html.pdf": b"<!DOCTYPE html><html><body>saved web page</body></html>",
        "truncated.pdf": pdf_bytes(1)[:120],
        "영수증 (copy).pdf": pdf_bytes(1) + b"% korean name\n",
    }
    ids = register(data_root, files)
    keys = list(ids.values())
    dagster_instance.add_dynamic_partitions("documents", keys)

    result = run_raw(dagster_instance, keys, max_pages=1)
    assert not result.success  # failed documents are reported as a failed step...
    materialized = dagster_instance.get_materialized_partitions(RAW)
    assert materialized == {ids["good.pdf"], ids["영수증 (copy).pdf"]}  # ...but the good ones are kept

    failures = {r["document_id"]: r for r in read_failures(LocalObjectStore(data_root / "outputs"),
                                                            build_resources(Settings.from_env(backend="local"))["storage"].layout).to_pylist()}
    assert failures[ids["two-pages.pdf"]]["error_code"] == "too_many_pages"
    assert failures[ids["locked.pdf"]]["error_code"] == "encrypted_document"
    assert failures[ids["page.html.pdf"]]["error_code"] == "unsupported_type"
    assert failures[ids["truncated.pdf"]]["error_code"] == "corrupt_document"
    assert all(f["stage"] == "raw_documents" and f["message"] for f in failures.values())
    assert "HTML" in failures[ids["page.html.pdf"]]["message"]

    # The cause is fixed (the page limit raised): re-running the failed one succeeds and clears its failure.
    retry = run_raw(dagster_instance, [ids["two-pages.pdf"]], max_pages=10)
    assert retry.success
    assert ids["two-pages.pdf"] in dagster_instance.get_materialized_partitions(RAW)
    remaining = read_failures(LocalObjectStore(data_root / "outputs"),
                              build_resources(Settings.from_env(backend="local"))["storage"].layout).column("document_id").to_pylist()
    assert ids["two-pages.pdf"] not in remaining and len(remaining) == 3
    raw_metadata = dagster_instance.get_latest_materialization_event(RAW).asset_materialization.metadata
    assert raw_metadata["pages"].value == 2 and raw_metadata["mime_type"].value == "application/pdf"
