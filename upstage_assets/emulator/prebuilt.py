"""Prebuilt key-information extraction models (contract section 6) on the local engine.

Each model is a schema the engine fills; the answer is the prebuilt ``fields[]`` shape with
dotted keys, and line items as one field per row whose ``properties`` hold the row's cells.
"""

from __future__ import annotations

from typing import Any

from upstage_assets.emulator.api_errors import ApiError
from upstage_assets.schemas.extraction import load_schema


def _schema(properties: dict[str, str]) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": "string", "description": description}
                                             for name, description in properties.items()}}


INLINE_SCHEMAS: dict[str, dict[str, Any]] = {
    "air-waybill-extraction": _schema({
        "air_waybill_number": "Air waybill number", "shipper.name": "Shipper name",
        "consignee.name": "Consignee name", "airport_of_departure": "Airport of departure",
        "airport_of_destination": "Airport of destination", "gross_weight": "Gross weight"}),
    "bill-of-lading-and-shipping-request-extraction": _schema({
        "bill_of_lading_number": "Bill of lading number", "shipper.name": "Shipper name",
        "consignee.name": "Consignee name", "port_of_loading": "Port of loading",
        "port_of_discharge": "Port of discharge", "vessel": "Vessel name"}),
    "kr-export-declaration-certificate-extraction": _schema({
        "declaration_number": "Export declaration number", "exporter.name": "Exporter name",
        "declaration_date": "Date of declaration", "total_amount": "Total declared amount"}),
}
DOCUMENT_TYPES = {"receipt-extraction": "receipt", "air-waybill-extraction": "air_waybill",
                  "bill-of-lading-and-shipping-request-extraction": "bill_of_lading",
                  "commercial-invoice-and-packing-list-extraction": "commercial_invoice",
                  "kr-export-declaration-certificate-extraction": "export_declaration"}


def prebuilt_schema(model: str) -> dict[str, Any]:
    """The JSON schema behind a prebuilt model; unknown models are a 400."""
    if model == "receipt-extraction":
        return load_schema("receipt").json_schema
    if model == "commercial-invoice-and-packing-list-extraction":
        return load_schema("invoice").json_schema
    if model in INLINE_SCHEMAS:
        return INLINE_SCHEMAS[model]
    raise ApiError(400, f"invalid model name {model!r}", "invalid_model_name")


def field_type(spec: dict[str, Any]) -> str:
    if spec.get("format") == "date":
        return "date"
    if spec.get("type") in ("number", "integer"):
        return "number"
    return "content"


def prebuilt_response(model: str, schema: dict[str, Any], extracted: dict[str, dict[str, Any]],
                      pages: int, billed_pages: int) -> dict[str, Any]:
    """The prebuilt answer from ``extract_fields`` output ({name: {value, confidence, ...}})."""
    fields: list[dict[str, Any]] = []
    properties = schema.get("properties", {})
    for name, spec in properties.items():
        found = extracted.get(name) or {}
        value = found.get("value")
        if value is None or value == "" or value == []:
            continue
        confidence = float(found.get("confidence") or 0.0)
        if isinstance(value, list):
            for row in value:
                cells = row.items() if isinstance(row, dict) else [("value", row)]
                fields.append({"id": len(fields) + 1, "key": name, "type": "group", "value": "",
                               "confidence": confidence,
                               "properties": [{"key": f"{name}.{k}", "value": "" if v is None else str(v),
                                               "confidence": confidence} for k, v in cells]})
            continue
        fields.append({"id": len(fields) + 1, "key": name, "type": field_type(spec), "value": str(value),
                       "confidence": confidence})
    return {"apiVersion": "1.1", "documentType": DOCUMENT_TYPES.get(model, model), "modelVersion": model,
            "mimeType": "multipart/form-data", "numBilledPages": billed_pages, "stored": False,
            "metadata": {"totalPages": pages}, "fields": fields}
