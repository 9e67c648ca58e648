"""quality_report: coverage and confidence per field, as Markdown plus a PNG chart in storage."""

import io
from datetime import UTC, datetime

from dagster import materialize
from PIL import Image

from upstage_assets.defs.quality_report import REPORT_CHART_KEY, quality_report
from upstage_assets.resources.storage import StorageResource
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets_tests.storage.rows import row_bytes


def test_the_report_measures_coverage_and_confidence_and_writes_a_chart(tmp_path, dagster_instance):
    outputs = tmp_path / "outputs"
    store = LocalObjectStore(outputs)
    when = datetime(2024, 6, 1, tzinfo=UTC)
    for i in range(3):
        store.write_bytes(*row_bytes(f"{i:016x}", 10.0 + i, when))
    store.write_bytes(*row_bytes(f"{9:016x}", 1.0, when, quarantine=True))

    result = materialize([quality_report], instance=dagster_instance,
                         resources={"storage": StorageResource(output_root=str(outputs), inbox=str(tmp_path / "in"))})
    assert result.success
    metadata = result.asset_materializations_for_node("quality_report")[0].metadata
    report = metadata["report"].value
    assert "3 validated rows, 1 quarantined (25%)" in report
    assert "| issuer | 100% | 0.90 | 0.90 | 0.90 |" in report
    assert "| due_date | 0% | — | — | — |" in report
    assert metadata["rows"].value == 3 and metadata["quarantined"].value == 1
    assert metadata["chart"].value.startswith("![quality chart](data:image/png;base64,")
    chart = Image.open(io.BytesIO(store.read_bytes(REPORT_CHART_KEY)))
    assert chart.format == "PNG" and chart.width > 400
    assert metadata["chart_path"].value == str(outputs / REPORT_CHART_KEY)


def test_an_unreadable_table_file_is_left_out_and_counted(tmp_path, monkeypatch):
    """One torn Parquet file does not stop the report; its metadata says how many were left out."""
    from dagster import build_asset_context

    from upstage_assets.defs.quality_report import quality_report
    from upstage_assets.resources.storage import StorageResource
    from upstage_assets.storage.object_store import LocalObjectStore
    from upstage_assets_tests.storage.rows import LAYOUT, SCHEMA, row_bytes

    store = LocalObjectStore(tmp_path / "outputs")
    store.write_bytes(*row_bytes("a" * 16, 10.0, datetime(2024, 1, 1, tzinfo=UTC)))
    store.write_bytes(f"{LAYOUT.tables}/{SCHEMA.name}/{'b' * 16}.parquet", b"not parquet")
    storage = StorageResource(output_root=str(tmp_path / "outputs"), inbox=str(tmp_path / "inbox"))
    result = quality_report(build_asset_context(), storage)
    assert result.metadata["rows"] == 1 and result.metadata["files_left_out"] == 1
