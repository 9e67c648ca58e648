"""The loop users want: the API's answers become training data for a local model.

Receipts go through the Upstage backend (the production client against the project's
emulator on loopback), the training-set, model and promotion assets run in Dagster on
what that left in the output store, and new receipts are then processed by the local
backend, whose KIE answers with the promoted model and says so per field; a worse
candidate then fails the blocking check and the current model stays. Generated
text-layer receipts keep it fast (no OCR); nothing is mocked.
"""

from __future__ import annotations

import json
import shutil

import pytest
from dagster import materialize

from upstage_assets.definitions import build_definitions
from upstage_assets.defs.learned_kie import LEARNED_KIE_ASSETS, LEARNED_KIE_CHECKS
from upstage_assets.ingest.naming import document_id_for_bytes
from upstage_assets.operations.evaluation import values_match
from upstage_assets.operations.runner import process_inbox_once
from upstage_assets.resources.storage import StorageResource
from upstage_assets.settings import Settings

TRAIN_RECEIPTS = 10
NEW_RECEIPTS = 3
LEARNED_FIELDS = ("company", "date", "total")


def _receipt_pdfs(out, seed, count):
    from upstage_assets.samples import generate_samples

    samples = generate_samples(out, seed=seed, invoices=0, receipts=count)
    return [s for s in samples if s.path.suffix == ".pdf"]


def _fill_inbox(inbox, samples):
    for sample in samples:
        target = inbox / "receipt" / sample.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample.path, target)


@pytest.mark.slow
def test_documents_processed_by_the_api_train_the_model_the_local_backend_then_uses(
        data_root, dagster_instance, tmp_path, monkeypatch):
    from upstage_assets.emulator.server import run_emulator_in_thread
    from upstage_assets.emulator.settings import EmulatorSettings

    outputs = data_root / "outputs"
    monkeypatch.setenv("UPSTAGE_ASSETS_MODEL_DIR", str(outputs / "models"))
    emulator = run_emulator_in_thread(EmulatorSettings())
    try:
        monkeypatch.setenv("UPSTAGE_API_BASE_URL", emulator.url)
        monkeypatch.setenv("UPSTAGE_API_KEY", "up_test_key")
        monkeypatch.setenv("UPSTAGE_ASSETS_BACKEND", "emulator")
        _fill_inbox(data_root / "inbox", _receipt_pdfs(tmp_path / "api", 11, TRAIN_RECEIPTS))
        report = process_inbox_once(None, instance=dagster_instance, defs=build_definitions(Settings.from_env(backend="emulator")))
        assert report.runs and all(ok for _, ok in report.runs), report.runs
    finally:
        emulator.stop()

    config = {"schema_name": "receipt", "source": "pseudo", "min_confidence": 0.8, "epochs": 40,
              "holdout_share": 0.2}
    run_config = {"ops": {name: {"config": config} for name in ("kie_training_set", "kie_model",
                                                                "current_kie_model")}}
    result = materialize([*LEARNED_KIE_ASSETS, *LEARNED_KIE_CHECKS], run_config=run_config,
                         resources={"storage": StorageResource(output_root=str(outputs))}, instance=dagster_instance)
    assert result.success
    manifest = json.loads((outputs / "models" / "receipt" / "training_set.json").read_text())
    assert manifest["source"] == "pseudo:output_store"
    assert len(manifest["documents"]) == TRAIN_RECEIPTS
    assert all(d["source"] == "pseudo" and d["labels"] for d in manifest["documents"])
    card = json.loads((outputs / "models" / "receipt" / "current.json").read_text())
    assert card["schema"] == "receipt" and card["device"] in ("cpu", "cuda")
    assert {"data", "held_back_metrics", "code", "config"} <= set(card)
    learned = {f["name"] for f in card["fields"]}
    assert set(LEARNED_FIELDS) <= learned

    # New receipts, local backend: the promoted model answers the fields it was trained for.
    monkeypatch.setenv("UPSTAGE_ASSETS_BACKEND", "local")
    shutil.rmtree(data_root / "inbox")
    new = _receipt_pdfs(tmp_path / "new", 12, NEW_RECEIPTS)
    _fill_inbox(data_root / "inbox", new)
    report = process_inbox_once(None, instance=dagster_instance, defs=build_definitions(Settings.from_env(backend="local")))
    assert report.runs and all(ok for _, ok in report.runs), report.runs
    right = 0
    for sample in new:
        kie = json.loads((outputs / "kie" / f"{document_id_for_bytes(sample.path.read_bytes())}.json").read_text())
        assert kie["backend"] == "local"
        for name in LEARNED_FIELDS:
            assert kie["fields"][name]["source"] in ("model", "rules")
            right += values_match(kie["fields"][name]["value"], sample.fields[name])
        for name, field in kie["fields"].items():
            if name not in learned:
                assert field["source"] == "rules", name  # fields the model was not trained for
        assert any(kie["fields"][name]["source"] == "model" for name in LEARNED_FIELDS)
    assert right >= 0.8 * NEW_RECEIPTS * len(LEARNED_FIELDS)

    # A worse candidate (one epoch) fails the blocking check and is never promoted.
    current = (outputs / "models" / "receipt" / "current.pt").read_bytes()
    worse = {**config, "epochs": 1}
    result = materialize([*LEARNED_KIE_ASSETS, *LEARNED_KIE_CHECKS],
                         run_config={"ops": {name: {"config": worse} for name in run_config["ops"]}},
                         resources={"storage": StorageResource(output_root=str(outputs))}, instance=dagster_instance,
                         raise_on_error=False)
    evaluations = result.get_asset_check_evaluations()
    assert [e.passed for e in evaluations] == [False]
    promoted = {e.materialization.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "kie_model" in promoted and "current_kie_model" not in promoted
    assert (outputs / "models" / "receipt" / "current.pt").read_bytes() == current
