"""``quality_report``: how complete and how confident the extracted tables are, per schema.

Unpartitioned, downstream of every ``validated_documents`` partition. It reads the tables
straight from storage (the current version of each Delta table, one row per document)
rather than through an IO manager, so it sees exactly what a user of the tables
sees. The result is Markdown metadata (field coverage, confidence quantiles, quarantine
share) and a PNG chart, both written to ``reports/`` in the result store; the chart is also
embedded in the metadata so the UI shows it without access to the store.
"""


import base64
import io
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from dagster import AssetExecutionContext, AutomationCondition, MaterializeResult, MetadataValue, asset

from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
from upstage_assets.exporters.base import ExportSource
from upstage_assets.resources.storage import StorageResource
from upstage_assets.schemas.arrow import LINEAGE_FIELDS

REPORT_CHART_KEY = "reports/quality_report.png"
REPORT_MARKDOWN_KEY = "reports/quality_report.md"
LINEAGE_COLUMNS = {f.name for f in LINEAGE_FIELDS}


@dataclass
class FieldQuality:
    name: str
    coverage: float  # share of rows with a value
    confidences: list[float]

    def quantile(self, q: float) -> float | None:
        if not self.confidences:
            return None
        ordered = sorted(self.confidences)
        return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def _is_filled(value: Any) -> bool:
    return value not in (None, "", [])


def _confidence(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None  # a malformed confidence leaves that one value out, not the report
    return number if number == number else None


def _confidence_map(row: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(row.get("field_confidence") or [])
    except (TypeError, ValueError):
        return {}


def field_quality(table: pa.Table) -> list[FieldQuality]:
    """Coverage and confidences of each extracted (non-lineage) column; malformed values are left out."""
    rows = table.to_pylist()
    confidence_maps = [_confidence_map(r) for r in rows]
    result = []
    for name in table.column_names:
        if name in LINEAGE_COLUMNS:
            continue
        filled = sum(1 for r in rows if _is_filled(r.get(name)))
        confidences = [c for c in (_confidence(m.get(name)) for m in confidence_maps) if c is not None]
        result.append(FieldQuality(name, filled / len(rows) if rows else 0.0, confidences))
    return result


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def report_markdown(per_schema: dict[str, list[FieldQuality]], rows: dict[str, int],
                    quarantined: dict[str, int]) -> str:
    if not per_schema and not quarantined:
        return "_No validated rows yet._"
    lines = []
    for schema in sorted(set(per_schema) | set(quarantined)):
        total = rows.get(schema, 0) + quarantined.get(schema, 0)
        share = quarantined.get(schema, 0) / total if total else 0.0
        lines += [f"### {schema}", f"{rows.get(schema, 0)} validated rows, {quarantined.get(schema, 0)} "
                                   f"quarantined ({share:.0%})", "",
                  "| field | coverage | mean confidence | p10 | median |", "|---|---|---|---|---|"]
        for fq in per_schema.get(schema, []):
            mean = sum(fq.confidences) / len(fq.confidences) if fq.confidences else None
            lines.append(f"| {fq.name} | {fq.coverage:.0%} | {_fmt(mean)} | {_fmt(fq.quantile(0.1))} | "
                         f"{_fmt(fq.quantile(0.5))} |")
        lines.append("")
    return "\n".join(lines)


def render_chart(per_schema: dict[str, list[FieldQuality]]) -> bytes:
    """One row of two panels per schema: coverage bars, confidence box plots. PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    schemas = sorted(per_schema) or ["(none)"]
    figure, axes = plt.subplots(len(schemas), 2, figsize=(12, 3.2 * len(schemas)), squeeze=False)
    for row, schema in enumerate(schemas):
        fields = per_schema.get(schema, [])
        names = [f.name for f in fields]
        coverage_axis, confidence_axis = axes[row]
        coverage_axis.barh(names, [f.coverage * 100 for f in fields], color="#3b7dd8")
        coverage_axis.set_xlim(0, 100)
        coverage_axis.set_title(f"{schema}: field coverage (%)")
        coverage_axis.invert_yaxis()
        data = [f.confidences or [float("nan")] for f in fields]
        if data:
            confidence_axis.boxplot(data, vert=False, tick_labels=names)
            confidence_axis.invert_yaxis()
        confidence_axis.set_xlim(0, 1)
        confidence_axis.set_title(f"{schema}: confidence per field")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


# Fresh without a button: requested when there are rows but no report yet (also on the very first
# evaluation, which has no history), or when validated_documents got new rows since the last
# evaluation; never while a partition is being materialized (a long backfill yields one report at
# its end). Unlike eager(), a document that failed (a missing partition) does not hold it back.
_NEVER_MADE = (AutomationCondition.missing() & AutomationCondition.any_deps_match(~AutomationCondition.missing())
               & ~AutomationCondition.execution_failed())
QUALITY_REPORT_CONDITION = (
    (_NEVER_MADE | AutomationCondition.any_deps_updated().since_last_handled())
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("after new validated rows")


@asset(deps=[VALIDATED_DOCUMENTS], group_name="reports", automation_condition=QUALITY_REPORT_CONDITION,
       description="Field coverage and confidence distribution of the validated tables, per schema (Markdown "
                   "and a chart, also written to reports/ in the result store). Refreshed automatically after "
                   "new validated rows (declarative automation: the default automation condition sensor).")
def quality_report(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    store, layout = storage.output_store(), storage.layout
    source = ExportSource(store, layout, storage.read_source)
    quarantine = source.tables(layout.quarantine)
    per_schema: dict[str, list[FieldQuality]] = {}
    rows: dict[str, int] = {}
    for schema, table in source.tables(layout.tables).items():
        per_schema[schema] = field_quality(table)
        rows[schema] = table.num_rows
    quarantined = {schema: table.num_rows for schema, table in quarantine.items()}
    markdown = report_markdown(per_schema, rows, quarantined)
    chart = render_chart(per_schema)
    chart_path = store.write_bytes(REPORT_CHART_KEY, chart)
    store.write_bytes(REPORT_MARKDOWN_KEY, (markdown + f"\n\n![quality chart]({chart_path})\n").encode())
    embedded = f"![quality chart](data:image/png;base64,{base64.b64encode(chart).decode()})"
    context.log.info(f"quality report over {sum(rows.values())} rows in {len(rows)} tables")
    for key, reason in source.unreadable:
        context.log.warning(f"quality report left out {key}: {reason}")
    return MaterializeResult(metadata={
        "report": MetadataValue.md(markdown),
        "chart": MetadataValue.md(embedded),
        "chart_path": MetadataValue.path(chart_path),
        "rows": sum(rows.values()),
        "quarantined": sum(quarantined.values()),
        "files_left_out": len(source.unreadable),
    })
