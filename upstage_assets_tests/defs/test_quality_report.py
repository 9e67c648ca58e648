"""quality_report: coverage and confidence per field, as Markdown plus a PNG chart in storage."""

import io
from datetime import UTC, datetime

from dagster import materialize
from PIL import Image

from upstage_assets.defs.quality_report import REPORT_CHART_KEY, quality_report
from upstage_assets.resources.storage import StorageResource
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets.storage.table_writer import DeltaTableWriter
from upstage_assets_tests.storage.rows import LAYOUT, table_row


def test_the_report_measures_coverage_and_confidence_and_writes_a_chart(tmp_path, dagster_instance):
    outputs = tmp_path / "outputs"
    store = LocalObjectStore(outputs)
    when = datetime(2024, 6, 1, tzinfo=UTC)
    DeltaTableWriter(store, LAYOUT).commit([table_row(f"{i:016x}", 10.0 + i, when) for i in range(3)]
                                           + [table_row(f"{9:016x}", 1.0, when, quarantine=True)])

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


def test_an_unmigrated_table_folder_is_left_out_and_counted(tmp_path):
    """A folder still in the old one-file-per-document layout does not stop the report."""
    from dagster import build_asset_context

    from upstage_assets.defs.quality_report import quality_report
    from upstage_assets.resources.storage import StorageResource
    from upstage_assets_tests.storage.rows import row_bytes

    store = LocalObjectStore(tmp_path / "outputs")
    DeltaTableWriter(store, LAYOUT).commit([table_row("a" * 16, 10.0, datetime(2024, 1, 1, tzinfo=UTC))])
    key, data = row_bytes("b" * 16, 10.0, datetime(2024, 1, 1, tzinfo=UTC))
    store.write_bytes(key.replace("/invoice/", "/receipt/"), data)
    storage = StorageResource(output_root=str(tmp_path / "outputs"), inbox=str(tmp_path / "inbox"))
    result = quality_report(build_asset_context(), storage)
    assert result.metadata["rows"] == 1 and result.metadata["files_left_out"] == 1


def test_the_report_is_requested_after_new_rows_without_anyone_asking(data_root, dagster_instance):
    """The automation condition, evaluated as the automation sensor does: no rows -> nothing;
    rows but no report -> requested; up to date -> not again until validated_documents has new rows."""
    from dagster import AssetMaterialization, evaluate_automation_conditions

    from upstage_assets.definitions import build_definitions
    from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
    from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
    from upstage_assets.settings import Settings

    defs = build_definitions(Settings.from_env(backend="local"))
    dagster_instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, ["a" * 16, "b" * 16, "c" * 16])
    result = evaluate_automation_conditions(defs=defs, instance=dagster_instance)
    assert result.get_num_requested(quality_report.key) == 0, "no rows yet: nothing to report"
    dagster_instance.report_runless_asset_event(AssetMaterialization(VALIDATED_DOCUMENTS, partition="b" * 16))
    result = evaluate_automation_conditions(defs=defs, instance=dagster_instance, cursor=result.cursor)
    assert result.get_num_requested(quality_report.key) == 1, "rows and no report: requested"
    assert result.get_num_requested(VALIDATED_DOCUMENTS) == 0, "documents are never started by automation"
    materialize([quality_report], instance=dagster_instance, resources={"storage": defs.resources["storage"]})
    result = evaluate_automation_conditions(defs=defs, instance=dagster_instance, cursor=result.cursor)
    assert result.get_num_requested(quality_report.key) == 0, "up to date: not requested"
    dagster_instance.report_runless_asset_event(AssetMaterialization(VALIDATED_DOCUMENTS, partition="a" * 16))
    result = evaluate_automation_conditions(defs=defs, instance=dagster_instance, cursor=result.cursor)
    assert result.get_num_requested(quality_report.key) == 1, "new rows: requested"
