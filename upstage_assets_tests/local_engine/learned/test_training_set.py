"""Training sets from labels or pseudo-labels, through the same code; the manifest keeps the split."""

from __future__ import annotations

import json

from upstage_assets.local_engine.learned.corpus import LabelledDocument
from upstage_assets.local_engine.learned.pseudo_labels import confident_values, iter_pseudo_labelled
from upstage_assets.local_engine.learned.training_set import from_documents, from_manifest, to_manifest
from upstage_assets.schemas.extraction import load_schema
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets_tests.local_engine.learned.pages import element, response


def _receipt(index: int) -> tuple[dict, dict]:
    company, total = f"SHOP NUMBER {index} SDN BHD", f"{10 + index}.50"
    parsed = response(element(0, company, 0.05, "heading1"), element(1, f"Date: 0{index % 9 + 1}/03/2020", 0.2),
                      element(2, f"TOTAL  {total}", 0.5))
    return parsed, {"company": company, "date": f"0{index % 9 + 1}/03/2020", "total": total}


def test_confident_values_only_become_labels():
    fields = {"company": {"value": "ACME", "confidence": 0.9}, "date": {"value": "2020-01-02", "confidence": 0.3},
              "total": {"value": 12.5, "confidence": None}, "items": {"value": [{"a": 1}], "confidence": 0.99}}
    assert confident_values(fields, 0.8) == {"company": "ACME"}


def test_pseudo_labels_come_from_api_backends_in_the_output_store(tmp_path):
    store, layout = LocalObjectStore(tmp_path), OutputLayout()
    for index, backend in enumerate(("emulator", "local", "upstage")):
        parsed, labels = _receipt(index)
        document_id = f"doc{index}"
        fields = {k: {"value": v, "confidence": 0.9} for k, v in labels.items()}
        store.write_bytes(layout.kie_key(document_id), json.dumps(
            {"document_id": document_id, "schema_name": "receipt", "backend": backend, "fields": fields}).encode())
        store.write_bytes(layout.parsed_key(document_id), json.dumps(parsed).encode())
    found = list(iter_pseudo_labelled(store, "receipt", min_confidence=0.8))
    assert [d.name for d in found] == ["doc0", "doc2"]  # never the local backend's own answers
    assert all(d.source == "pseudo" and d.labels["company"].startswith("SHOP") for d in found)


def test_a_manifest_rebuilds_the_same_training_set_and_split():
    documents = [LabelledDocument(f"id{i}", f"r{i}", *_receipt(i), "pseudo") for i in range(12)]
    built = from_documents(documents, load_schema("receipt").properties, "receipt", "pseudo:test",
                           holdout_share=0.3)
    # address, currency and receipt_number never appear in the labels: left to the rules
    assert [f.name for f in built.fields] == ["company", "date", "total"]
    assert built.train and built.held_back
    again = from_manifest(json.loads(json.dumps(to_manifest(built))))
    assert [e.document_id for e in again.train] == [e.document_id for e in built.train]
    assert [e.document_id for e in again.held_back] == [e.document_id for e in built.held_back]
    assert again.fields == built.fields
    assert built.describe()["values_found_on_page"] == {"company": 1.0, "date": 1.0, "total": 1.0}


def test_a_page_read_two_ways_gives_two_examples_on_the_same_side_of_the_split():
    """``mixed`` training: the OCR reading and the transcript reading of one document."""
    from upstage_assets.local_engine.learned.training_set import reading

    documents = []
    for i in range(12):
        parsed, labels = _receipt(i)
        documents.append(LabelledDocument(f"id{i}", f"r{i}", parsed, labels, "transcripts"))
        documents.append(LabelledDocument(f"id{i}", f"r{i}", parsed, labels, "labels"))
    built = from_documents(documents, load_schema("receipt").properties, "receipt", "labels:test", text="mixed",
                           holdout_share=0.3)
    assert len(built.train) + len(built.held_back) == 24
    for side in (built.train, built.held_back):
        by_document: dict[str, set[str]] = {}
        for example in side:
            by_document.setdefault(example.document_id, set()).add(reading(example))
        assert all(readings == {"ocr", "transcripts"} for readings in by_document.values())
    assert not {e.document_id for e in built.train} & {e.document_id for e in built.held_back}
    described = built.describe()
    assert described["train_documents"] == len(built.train) // 2
    assert described["train_examples_by_text"] == {"transcripts": len(built.train) // 2, "ocr": len(built.train) // 2}


def test_lines_a_padded_height_apart_are_two_rows_in_the_models_view():
    """OCR boxes are padded: the next row's centre can be under half a box height away."""
    from upstage_assets.local_engine.learned.features import page_view
    from upstage_assets_tests.local_engine.learned.pages import element, response

    parsed = response(element(0, "LIGHTROOM GALLERY", 0.044, x0=0.09, height=0.032),
                      element(1, "BANDAR BUKIT RAJA", 0.076, x0=0.09, height=0.032),
                      element(2, "No: 28, JALAN ASTANA", 0.062, x0=0.22, x1=0.8, height=0.032))
    assert page_view(parsed).raw_texts == ["LIGHTROOM GALLERY", "No: 28, JALAN ASTANA", "BANDAR BUKIT RAJA"]
