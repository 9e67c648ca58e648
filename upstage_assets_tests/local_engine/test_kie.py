"""Schema-driven extraction over Document Parse responses (built by hand, and from real parses)."""

import json

from upstage_assets.local_engine.document_parse import parse_document
from upstage_assets.local_engine.kie import extract_fields, information_extraction_response
from upstage_assets.schemas.extraction import load_schema
from upstage_assets_tests.local_engine.learned.pages import RECEIPT, element, response


def test_receipt_fields_by_label_geometry_and_layout():
    fields = extract_fields(RECEIPT, load_schema("receipt").json_schema)
    assert fields["company"]["value"] == "KEDAI RUNCIT MAJU SDN BHD"
    assert fields["address"]["value"] == "NO 12, JALAN BESAR, TAMAN MELATI, 53100 KUALA LUMPUR"
    assert fields["date"]["value"] == "2019-04-03"
    assert fields["total"]["value"] == 19.08  # not the subtotal, not the cash tendered
    assert fields["receipt_number"]["value"] == "CS10023"
    assert fields["currency"]["value"] == "MYR"
    for name in ("date", "total", "receipt_number"):
        f = fields[name]
        assert f["page"] == 1 and 0.5 <= f["confidence"] <= 1.0
        assert all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 for p in f["coordinates"])


def test_value_below_its_label_and_missing_fields():
    doc = response(element(0, "ACME Corp", 0.02, "heading1"), element(1, "Invoice Number", 0.2, x1=0.3),
                   element(2, "A-7781", 0.24, x1=0.3), element(3, "Amount Due  $ 1,250.00", 0.5))
    fields = extract_fields(doc, load_schema("invoice").json_schema)
    assert fields["invoice_number"]["value"] == "A-7781"
    assert fields["amount"]["value"] == 1250.0 and fields["currency"]["value"] == "USD"
    assert fields["due_date"] == {"value": None, "confidence": 0.0, "page": None, "coordinates": None,
                                  "source": "rules"}


def test_confidence_separates_labelled_from_guessed_values():
    doc = response(element(0, "Shop", 0.02), element(1, "paid 12.00 and 30.00", 0.3))
    fields = extract_fields(doc, load_schema("receipt").json_schema)
    guessed = fields["total"]
    labelled = extract_fields(RECEIPT, load_schema("receipt").json_schema)["total"]
    assert guessed["value"] == 30.0 and guessed["confidence"] < 0.5 <= labelled["confidence"]


def test_information_extraction_response_shape():
    schema = load_schema("receipt")
    answer = information_extraction_response(RECEIPT, schema.response_format, location=True, confidence=True)
    message = answer["choices"][0]["message"]
    assert answer["object"] == "chat.completion" and json.loads(message["content"])["total"] == 19.08
    call = message["tool_calls"][0]["function"]
    assert call["name"] == "additional_values"
    extras = json.loads(call["arguments"])
    assert extras["total"]["confidence"] in ("high", "low") and extras["total"]["page"] == 1
    plain = information_extraction_response(RECEIPT, schema.response_format)
    assert "tool_calls" not in plain["choices"][0]["message"]


def test_generated_invoices_end_to_end(sample_documents):
    """Parse + extract the generated born-digital PDFs; every printed field comes back right."""
    from upstage_assets.operations.evaluation import values_match

    checked = 0
    for sample in sample_documents:
        if sample.path.suffix != ".pdf":
            continue
        parsed = parse_document(sample.path.read_bytes(), mime_type="application/pdf")
        fields = extract_fields(parsed, load_schema(sample.schema).json_schema)
        for name in sample.printed:
            assert values_match(fields[name]["value"], sample.fields[name]), (sample.path.name, name, fields[name])
            checked += 1
        if "line_items" in sample.fields:
            amounts = [item["amount"] for item in fields["line_items"]["value"]]
            assert amounts == [item["amount"] for item in sample.fields["line_items"]]
    assert checked >= 10


def test_schema_accepted_at_any_wrapping_level():
    response_format = load_schema("receipt").response_format
    inner = extract_fields(RECEIPT, response_format["json_schema"]["schema"])
    for wrapped in (response_format, response_format["json_schema"]):
        fields = extract_fields(RECEIPT, wrapped)
        assert {k: f["value"] for k, f in fields.items()} == {k: f["value"] for k, f in inner.items()}
        assert fields["total"]["value"] == 19.08


def test_label_lines_and_registration_numbers_are_not_the_company_name():
    page = response(
        element(0, "Account number:", 0.02),
        element(1, "296664039561", 0.05),
        element(2, "AEON CO. (M) BHD (126926-H)", 0.09, "heading1"),
        element(3, "3RD FLR, AEON TAMAN MALURI SC,\nJLN JEJAKA, 55100 KUALA LUMPUR", 0.13),
        element(4, "Date: 12/05/2018", 0.22),
        element(5, "TOTAL  RM 1.75", 0.40),
    )
    fields = extract_fields(page, load_schema("receipt").json_schema)
    assert fields["company"]["value"] == "AEON CO. (M) BHD"
    assert fields["date"]["value"] == "2018-05-12"
    assert fields["total"]["value"] == 1.75
