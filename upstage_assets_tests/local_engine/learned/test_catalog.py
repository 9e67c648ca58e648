"""Model files, which model serves which schema, and how the local KIE says who answered."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from upstage_assets.local_engine.kie import extract_fields
from upstage_assets.local_engine.learned import catalog
from upstage_assets.local_engine.learned.catalog import LearnedModel, load_model, model_for_schema, save_model
from upstage_assets.local_engine.learned.dataset import FieldSpec, field_specs
from upstage_assets.local_engine.learned.features import page_view
from upstage_assets.local_engine.learned.model import FieldTagger
from upstage_assets.local_engine.learned.predict import tag
from upstage_assets.schemas.extraction import load_schema
from upstage_assets_tests.local_engine.learned.pages import RECEIPT

RECEIPT_FIELDS = [FieldSpec("company", "text"), FieldSpec("date", "date"), FieldSpec("address", "text"),
                  FieldSpec("total", "amount")]


@pytest.fixture
def no_packaged_models(tmp_path, monkeypatch):
    """Only the models a test writes are found (the packaged default is looked up too otherwise)."""
    monkeypatch.setattr(catalog, "PACKAGED_MODELS", tmp_path / "packaged")
    monkeypatch.setenv("UPSTAGE_ASSETS_MODEL_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def test_a_saved_model_loads_with_the_same_answers_and_card(tmp_path):
    torch.manual_seed(0)
    tagger = FieldTagger(len(RECEIPT_FIELDS)).eval()
    path = save_model(tmp_path / "m.pt", tagger, RECEIPT_FIELDS, {"schema": "receipt", "version": "v1"})
    loaded = load_model(path)
    view = page_view(RECEIPT)
    before = tag(tagger, [view], torch.device("cpu"))[0]
    after = tag(loaded.tagger, [view], torch.device("cpu"))[0]
    assert all(np.allclose(a, b) for a, b in zip(before, after, strict=True))
    assert loaded.fields == RECEIPT_FIELDS and loaded.card["version"] == "v1"
    assert path.stat().st_size < 5_000_000


def test_a_model_serves_schemas_holding_all_its_fields_with_the_same_kinds():
    model = LearnedModel(FieldTagger(4), RECEIPT_FIELDS)
    assert model.serves(load_schema("receipt").properties)  # + currency, receipt_number: the rules' part
    assert not model.serves(load_schema("invoice").properties)
    properties = dict(load_schema("receipt").properties)
    properties["company"] = {"type": "number"}  # same name, another kind
    assert not model.serves(properties)
    assert [f.name for f in field_specs(load_schema("receipt").properties)] == \
        ["company", "address", "date", "total", "currency", "receipt_number"]


def test_a_model_with_its_training_schema_serves_exactly_that_schema():
    sroie = {name: {"type": "string"} for name in ("company", "date", "address", "total")}
    model = LearnedModel(FieldTagger(4), RECEIPT_FIELDS, {"schema_fields": sorted(sroie)})
    assert model.serves(sroie)
    assert not model.serves(load_schema("receipt").properties)  # more fields: not the schema it learned
    learned_three = LearnedModel(FieldTagger(3), RECEIPT_FIELDS[:2] + RECEIPT_FIELDS[3:],
                                 {"schema_fields": sorted(sroie)})
    assert learned_three.serves(sroie)  # address never found in its data: the rules keep it


def test_the_packaged_receipt_model_is_small_and_serves_the_sroie_schema_only():
    packaged = sorted(catalog.PACKAGED_MODELS.glob("*.pt"))
    assert packaged and all(path.stat().st_size < 5_000_000 for path in packaged)
    model = load_model(packaged[0])
    assert {f.name for f in model.fields} == {"company", "date", "address", "total"}
    assert not model.serves(load_schema("receipt").properties)
    assert model.card["held_back_metrics"] and model.card["config"]["seed"] == 17


def test_rules_answer_where_no_model_serves_the_schema_and_say_so(no_packaged_models):
    save_model(no_packaged_models / "receipt" / "current.pt", FieldTagger(4), RECEIPT_FIELDS, {})
    fields = extract_fields(RECEIPT, load_schema("invoice").json_schema)
    assert {f["source"] for f in fields.values()} == {"rules"}


def test_the_learned_extractor_can_be_switched_off(no_packaged_models, monkeypatch):
    save_model(no_packaged_models / "receipt" / "current.pt", FieldTagger(4), RECEIPT_FIELDS, {})
    assert model_for_schema(load_schema("receipt").properties) is not None
    monkeypatch.setenv("UPSTAGE_ASSETS_LEARNED_KIE", "0")
    assert model_for_schema(load_schema("receipt").properties) is None
    fields = extract_fields(RECEIPT, load_schema("receipt").json_schema)
    assert {f["source"] for f in fields.values()} == {"rules"}
    assert fields["total"]["value"] == 19.08


def test_an_unreadable_model_file_falls_back_to_the_rules(no_packaged_models):
    broken = no_packaged_models / "receipt" / "current.pt"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a model")
    assert model_for_schema(load_schema("receipt").properties) is None
    assert extract_fields(RECEIPT, load_schema("receipt").json_schema)["company"]["source"] == "rules"
