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


# Defects found on held-out documents (issue 17): each shape rebuilt by hand, with invented values.

def test_us_receipt_reads_month_first_from_its_country_cues():
    doc = response(element(0, "BLUE HERON COFFEE", 0.02, "heading1"),
                   element(1, "410 Elm Ave, Spokane, WA 99201", 0.06),
                   element(2, "6/10/2019  08:12", 0.12), element(3, "TOTAL  $ 7.25", 0.4))
    fields = extract_fields(doc, load_schema("receipt").json_schema)
    assert fields["date"]["value"] == "2019-06-10"
    assert fields["total"]["value"] == 7.25 and fields["currency"]["value"] == "USD"


def test_two_digit_year_followed_by_a_time_on_a_receipt():
    doc = response(element(0, "Baeckerei Sonnenschein", 0.02, "heading1"),
                   element(1, "Datum  16.05.20 09:47", 0.1), element(2, "zu zahlen  EUR 4,80", 0.4))
    fields = extract_fields(doc, load_schema("receipt").json_schema)
    assert fields["date"]["value"] == "2020-05-16"


def test_total_is_what_is_to_be_paid_not_the_vat_summary():
    doc = response(
        element(0, "Markt am Platz GmbH", 0.02, "heading1"),
        element(1, "Brot  3,20\nKaese  9,29\nPfand  0,25", 0.15),
        element(2, "zu zahlen  12,74", 0.3),
        element(3, "MwSt  Netto  Steuer  Total", 0.4),
        element(4, "7%  11,70  0,79  12,49", 0.44),
        element(5, "Total  11,70  0,79  12,49", 0.48),
    )
    fields = extract_fields(doc, load_schema("receipt").json_schema)
    assert fields["total"]["value"] == 12.74


def test_swiss_and_german_amounts_on_invoices():
    swiss = response(element(0, "Berg Werkstatt AG", 0.02, "heading1"),
                     element(1, "Rechnung Nr. 2031", 0.1), element(2, "Position A  1'200.00\nPosition B  2'749.75", 0.3),
                     element(3, "Total  CHF 3'949.75", 0.45))
    fields = extract_fields(swiss, load_schema("invoice").json_schema)
    assert fields["amount"]["value"] == 3949.75 and fields["currency"]["value"] == "CHF"
    german = response(element(0, "Nordlicht Druck GmbH", 0.02, "heading1"),
                      element(1, "Rechnungsdatum  02.03.2021", 0.1),
                      element(2, "Leistung  Menge  Preis\nPlakate  25  40,00", 0.25),
                      element(3, "Nettobetrag  845,00\nUSt 19%  160,55\nGesamtbetrag  1.005,55 EUR", 0.45))
    fields = extract_fields(german, load_schema("invoice").json_schema)
    assert fields["amount"]["value"] == 1005.55 and fields["currency"]["value"] == "EUR"


def test_invoice_number_labels_with_number_signs():
    for label, number in (("FACTURE N°", "F-2021-0457"), ("Rechnung #", "88213"), ("Factuur nr.", "2020/118"),
                          ("Facture Nº :", "A1209")):
        doc = response(element(0, "Atelier Lumière SARL", 0.02, "heading1"),
                       element(1, f"{label} {number}", 0.1), element(2, "Total  120,00 EUR", 0.4))
        fields = extract_fields(doc, load_schema("invoice").json_schema)
        assert fields["invoice_number"]["value"] == number, label


def test_page_numbers_captions_and_headings_are_not_names():
    doc = response(element(0, "Page 1 / 1", 0.01, x0=0.8, x1=0.95),
                   element(1, "TRADE NAME", 0.04, x1=0.3), element(2, "Kettle & Crumb Bakery", 0.07, x1=0.5),
                   element(3, "Bill To", 0.2, x1=0.3), element(4, "Summary", 0.23, x1=0.3, category="heading1"),
                   element(5, "Invoice No: 5521", 0.3), element(6, "Amount Due  $ 80.00", 0.5))
    fields = extract_fields(doc, load_schema("invoice").json_schema)
    assert fields["issuer"]["value"] == "Kettle & Crumb Bakery"
    assert fields["bill_to"]["value"] != "Summary"


def test_accented_ocr_of_an_excluded_label_and_another_labels_amount_are_not_the_total():
    doc = response(element(0, "KEDAI MAJU SDN BHD", 0.02, "heading1"),
                   element(1, "Total Šaving  0.00  Total  77.20", 0.4),  # OCR with an accent the print lacks
                   element(2, "Total Sales  Rounding 0.00", 0.5, x1=0.9), element(3, "RM 54.50", 0.53, x1=0.3))
    fields = extract_fields(doc, load_schema("receipt").json_schema)
    assert fields["total"]["value"] in (77.2, 54.5)
    assert fields["total"]["value"] != 0.0
