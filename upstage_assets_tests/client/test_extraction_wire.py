"""Information Extraction on the wire: request body, tool-call arguments, confidence mapping."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from upstage_assets.schemas.extraction import load_schema
from upstage_assets.upstage_api.extraction import (
    InformationExtractionApi,
    confidence_value,
    fields_from_response,
    prebuilt_fields,
)
from upstage_assets.upstage_api.parser import SourceDocument

from .conftest import make_http
from .scripted_server import Answer

IE = "/v1/information-extraction"
BOX = [{"x": 0.1, "y": 0.2}, {"x": 0.3, "y": 0.2}, {"x": 0.3, "y": 0.25}, {"x": 0.1, "y": 0.25}]


def completion(content: dict, arguments) -> dict:
    message = {"role": "assistant", "content": json.dumps(content)}
    if arguments is not None:
        message["tool_calls"] = [{"id": "c1", "type": "function",
                                  "function": {"name": "additional_values", "arguments": arguments}}]
    return {"id": "iex-1", "object": "chat.completion", "model": "information-extract-260904",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


@pytest.mark.parametrize("as_string", [True, False])
def test_tool_call_arguments_string_or_object(as_string):
    schema = load_schema("invoice")
    extras = {"invoice_number": {"_value": "INV-9", "page": 1, "coordinates": BOX, "confidence": "high"},
              "total_amount": {"_value": 42.5, "page": 2, "coordinates": BOX, "confidence": "low"}}
    response = completion({"invoice_number": "INV-9", "total_amount": 42.5},
                          json.dumps(extras) if as_string else extras)
    fields = fields_from_response(response, schema)
    assert fields["invoice_number"] == {"value": "INV-9", "confidence": 0.9, "page": 1, "coordinates": BOX}
    assert fields["total_amount"]["confidence"] == 0.3 and fields["total_amount"]["page"] == 2
    missing = [name for name in schema.properties if name not in ("invoice_number", "total_amount")]
    assert all(fields[name]["value"] is None for name in missing)


def test_array_fields_take_lowest_confidence_and_first_page():
    schema = load_schema("invoice")
    array_names = [n for n, p in schema.properties.items() if p["type"] == "array"]
    assert array_names, "the invoice schema has an array of line items"
    name = array_names[0]
    extras = {name: [{"description": {"_value": "a", "page": 2, "confidence": 0.8}},
                     {"description": {"_value": "b", "page": 1, "confidence": "low"}}]}
    fields = fields_from_response(completion({name: [{"description": "a"}, {"description": "b"}]}, extras), schema)
    assert fields[name]["confidence"] == 0.3 and fields[name]["page"] == 1


def test_confidence_words_and_numbers():
    assert confidence_value("HIGH") == 0.9 and confidence_value("low") == 0.3
    assert confidence_value(0.73) == 0.73 and confidence_value("0.5") == 0.5
    assert confidence_value(None) is None and confidence_value(True) is None


def test_request_body_carries_data_url_schema_and_options(server):
    server.defaults[IE] = Answer(200, completion({"invoice_number": "X"}, None))
    api = InformationExtractionApi(make_http(server.url))
    document = SourceDocument("d", "d.pdf", b"%PDF-1.4 bytes", "application/pdf", 2)
    result = asyncio.run(api.extract(document, load_schema("invoice")))
    body = server.arrivals_for(IE)[0].json
    url = body["messages"][0]["content"][0]["image_url"]["url"]
    assert url == "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4 bytes").decode()
    assert body["response_format"] == load_schema("invoice").response_format
    assert body["model"] == "information-extract" and body["location"] is True and body["confidence"] is True
    assert result.fields["invoice_number"]["confidence"] is None  # no tool call: no confidence
    assert result.pages_billed == 2  # no usage.pages in a chat completion: the document's pages


def test_prebuilt_fields_flatten_dotted_keys_and_properties():
    response = {"fields": [
        {"id": 1, "key": "date", "value": "2023-09-15", "refinedValue": "2023-09-15", "confidence": 0.98},
        {"id": 2, "key": "total", "value": "150.00", "confidence": 0.95,
         "properties": [{"key": "subtotal", "value": "100.00", "confidence": 0.9}]},
        {"id": 3, "key": "store.store_name", "value": "Shop", "confidence": "high",
         "boundingBoxes": [{"page": 1, "vertices": [{"x": 1, "y": 2}]}]}]}
    fields = prebuilt_fields(response)
    assert fields["total.subtotal"]["value"] == "100.00"
    assert fields["store.store_name"] == {"value": "Shop", "confidence": 0.9, "page": 1,
                                          "coordinates": [{"x": 1, "y": 2}]}
