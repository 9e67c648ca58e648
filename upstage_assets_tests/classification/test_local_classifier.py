"""The local classifier over hand-built parse results, and the routing decisions it drives."""

from __future__ import annotations

import asyncio

import pytest

from upstage_assets.defs.pipeline.routing import (
    CHECK,
    OFF,
    UNCLASSIFIED,
    WRONG_DOCUMENT_TYPE,
    DocumentTypePolicy,
    route_document,
)
from upstage_assets.local_engine.classify import classify_parsed
from upstage_assets.schemas.classification import (
    DocumentLabel,
    classification_response_format,
    label_for_schema,
    labels_for_schemas,
    labels_from_response_format,
)
from upstage_assets.schemas.extraction import ExtractionSchema, load_schema
from upstage_assets.upstage_api.parser import ClassificationResult


def parsed(*lines: str, pages: int = 1) -> dict:
    elements = [{"id": i, "category": "paragraph", "page": 1 + i * pages // max(len(lines), 1),
                 "content": {"text": line}} for i, line in enumerate(lines)]
    return {"elements": elements, "usage": {"pages": pages}}


INVOICE = parsed("ACME Tools GmbH", "INVOICE", "Invoice No: 2024-117", "Bill to: Beta Ltd", "Due date: 2024-06-30",
                 "Widget x 4   12.50   50.00", "VAT 19%   9.50", "Amount due   59.50", "IBAN DE44 5001 0517 5407 3249 31")
RECEIPT = parsed("CORNER CAFE", "12 High Street", "Cashier: Ann", "Latte        3.20", "Bagel        2.40",
                 "TOTAL        5.60", "CASH        10.00", "CHANGE       4.40", "Thank you, come again")
PROSE = parsed("Chapter 3. The migration of birds across the northern sea and what we know about it",
               "Every autumn millions of small birds leave the forests of the north and fly across the sea at night",
               "Observers on the islands have counted them for more than a century, and their notes show a slow change",
               pages=6)
BUILTIN = labels_for_schemas([load_schema("invoice"), load_schema("receipt")])


@pytest.mark.parametrize("page, kind", [(INVOICE, "invoice"), (RECEIPT, "receipt"), (PROSE, "others"),
                                        (parsed(), "others")])
def test_each_kind_is_recognised_with_a_probability(page, kind):
    result = classify_parsed(page, BUILTIN)
    assert result.label == kind and result.classified_by == "local-rules"
    assert 0.0 < result.confidence <= 1.0 and result.scores is not None
    assert result.confidence == max(result.scores.values())
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-3)


def test_a_users_schema_is_recognised_by_its_description_and_field_names():
    statement = ExtractionSchema("bank_statement", {"type": "json_schema", "json_schema": {
        "name": "bank_statement", "schema": {"type": "object", "properties": {
            "account_holder": {"type": "string"}, "opening_balance": {"type": "number"},
            "closing_balance": {"type": "number"}, "statement_period": {"type": "string"}}}}})
    label = label_for_schema(statement)
    assert "opening balance" in label.description
    page = parsed("First Bank", "Account statement", "Account holder: J. Smith", "Statement period: May 2024",
                  "Opening balance   1,200.00", "Card payment   -45.10", "Closing balance   1,154.90")
    labels = labels_for_schemas([statement, load_schema("invoice"), load_schema("receipt")])
    assert classify_parsed(page, labels).label == "bank_statement"
    assert classify_parsed(INVOICE, labels).label == "invoice"


def test_labels_travel_in_upstages_response_format_and_back():
    labels = [DocumentLabel("invoice", "a bill"), DocumentLabel("others", "anything else")]
    rf = classification_response_format(labels)
    assert rf["json_schema"]["schema"]["oneOf"][0] == {"const": "invoice", "description": "a bill"}
    assert labels_from_response_format(rf) == labels
    with pytest.raises(ValueError):
        labels_from_response_format({"json_schema": {"schema": {"oneOf": [{"description": "no const"}]}}})


def _route(page, name, policy):
    async def classify(labels):
        return ClassificationResult(classify_parsed(page, labels), {}, 0)

    return asyncio.run(route_document(policy, load_schema, classify, name))


def test_auto_routes_by_class_and_sends_others_to_unclassified():
    policy = DocumentTypePolicy(OFF)  # auto classifies whatever the fixed-schema policy says
    assert _route(RECEIPT, "auto", policy).schema.name == "receipt"
    assert _route(INVOICE, "auto", policy).schema_ref == "invoice"
    other = _route(PROSE, "auto", policy)
    assert other.reason == UNCLASSIFIED and other.schema is None and other.table == "unclassified"


def test_a_fixed_schema_quarantines_another_kind_only_when_sure():
    route = _route(RECEIPT, "invoice", DocumentTypePolicy(CHECK))
    assert route.reason == WRONG_DOCUMENT_TYPE and route.table == "invoice"
    assert "receipt" in route.detail
    assert _route(INVOICE, "invoice", DocumentTypePolicy(CHECK)).reason is None
    unsure = _route(RECEIPT, "invoice", DocumentTypePolicy(CHECK, min_confidence=0.999))
    assert unsure.reason is None and unsure.classification.label == "receipt"  # extracted; validation decides
    off = _route(RECEIPT, "invoice", DocumentTypePolicy(OFF))
    assert off.reason is None and off.classification is None


def test_a_bad_policy_is_refused():
    with pytest.raises(ValueError, match="document_types"):
        DocumentTypePolicy("sometimes")
