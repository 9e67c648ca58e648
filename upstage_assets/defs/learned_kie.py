"""The learned extractor's lifecycle as assets: training set -> candidate model -> current model.

- ``kie_training_set``: which documents, from which source (a labelled corpus folder, or
  documents the Upstage backend already processed, as pseudo-labels), and the split;
  stored as one JSON under ``models/<schema>/training_set.json``.
- ``kie_model``: a model trained on it (seeded), written as ``models/<schema>/candidate.pt``
  with its model card (data, schema, metrics, config, device, code version).
- the blocking check ``kie_model_not_worse``: the candidate and the model serving the schema
  now (promoted or packaged) are scored on the held-back split; a worse candidate fails it,
  so ``current_kie_model`` does not run and the current model stays.
- ``current_kie_model``: promotes the candidate to ``models/<schema>/current.pt``, where the
  local backend finds it (``UPSTAGE_ASSETS_MODEL_DIR``, by default the local output root's
  ``models/`` folder).
"""

import io
import json
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from pydantic import Field

from upstage_assets.defs.executors import GPU_TAG, GPU_TAG_VALUE
from upstage_assets.resources.storage import StorageResource

GROUP = "learned_kie"
TRAINING_SET = AssetKey("kie_training_set")
KIE_MODEL = AssetKey("kie_model")


class LearnedKieConfig(Config):
    schema_name: str = Field(default="receipt", description="schema the model extracts (folder under models/)")
    source: str = Field(default="pseudo", description="pseudo: the API's confident answers in the output store; "
                                                      "labels: a corpus folder (documents/, labels/, schema.json)")
    corpus: str = Field(default="", description="the labelled corpus folder (source=labels)")
    text: str = Field(default="ocr", description="source=labels: ocr (local engine, cached) or transcripts (boxes/)")
    min_confidence: float = Field(default=0.8, description="source=pseudo: lowest confidence taken as a label")
    holdout_share: float = Field(default=0.15)
    epochs: int = Field(default=12)
    seed: int = Field(default=17)


def _key(config: LearnedKieConfig, name: str) -> str:
    from upstage_assets.storage.layout import _segment

    return f"models/{_segment(config.schema_name)}/{name}"


def _build_training_set(config: LearnedKieConfig, storage: StorageResource) -> Any:
    from pathlib import Path

    from upstage_assets.local_engine.learned import pseudo_labels, training_set
    from upstage_assets.schemas.extraction import load_schema

    if config.source == "labels":
        return training_set.from_corpus(Path(config.corpus), text=config.text, holdout_share=config.holdout_share)
    if config.source != "pseudo":
        raise ValueError(f"source must be 'pseudo' or 'labels', not {config.source!r}")
    schema = load_schema(config.schema_name)
    documents = pseudo_labels.iter_pseudo_labelled(storage.output_store(), schema.name,
                                                   min_confidence=config.min_confidence, layout=storage.layout)
    return training_set.from_documents(documents, schema.properties, schema.name, "pseudo:output_store",
                                       holdout_share=config.holdout_share)


@asset(key=TRAINING_SET, group_name=GROUP,
       description="Documents, labels (human or the API's confident answers) and the held-back split for the "
                   "learned extractor; JSON under models/<schema>/training_set.json.")
def kie_training_set(context: AssetExecutionContext, config: LearnedKieConfig,
                     storage: StorageResource) -> MaterializeResult:
    from upstage_assets.local_engine.learned.training_set import to_manifest

    built = _build_training_set(config, storage)
    if not built.train:
        raise ValueError(f"no training documents for schema {config.schema_name!r} from source {config.source!r}")
    path = storage.output_store().write_bytes(_key(config, "training_set.json"),
                                              json.dumps(to_manifest(built), ensure_ascii=False).encode())
    described = built.describe()
    context.log.info(f"training set: {described['train_documents']} train, "
                     f"{described['held_back_documents']} held back")
    return MaterializeResult(metadata={
        "source": built.source, "text": built.text, "schema": built.schema_name,
        "train_documents": described["train_documents"], "held_back_documents": described["held_back_documents"],
        "values_found_on_page": MetadataValue.json(described["values_found_on_page"]),
        "path": MetadataValue.path(path)})


def _load_training_set(config: LearnedKieConfig, storage: StorageResource) -> Any:
    from upstage_assets.local_engine.learned.training_set import from_manifest

    return from_manifest(json.loads(storage.output_store().read_bytes(_key(config, "training_set.json"))))


@asset(key=KIE_MODEL, deps=[TRAINING_SET], group_name=GROUP, op_tags={GPU_TAG: GPU_TAG_VALUE},  # gpu_executor leases it a device
       description="A learned extractor trained on kie_training_set: weights + model card, as "
                   "models/<schema>/candidate.pt (promoted by current_kie_model once it passes its check).")
def kie_model(context: AssetExecutionContext, config: LearnedKieConfig, storage: StorageResource) -> MaterializeResult:
    from upstage_assets.local_engine.learned.catalog import model_bytes
    from upstage_assets.local_engine.learned.fit import fit
    from upstage_assets.local_engine.learned.train import TrainConfig

    built = _load_training_set(config, storage)
    model, curve = fit(built, TrainConfig(epochs=config.epochs, seed=config.seed,
                                          holdout_share=config.holdout_share),
                       progress=lambda row: context.log.info(json.dumps(row)))
    data = model_bytes(model.tagger, model.fields, model.card, model.lexicon)
    store = storage.output_store()
    path = store.write_bytes(_key(config, "candidate.pt"), data)
    store.write_bytes(_key(config, "candidate.json"), json.dumps(model.card, indent=1).encode())
    curve_md = "\n".join(["| epoch | training loss | held-back exact match |", "|---|---|---|"] + [
        f"| {r['epoch']} | {r['train_loss']:.4f} | {json.dumps(r.get('held_back_accuracy', ''))} |" for r in curve])
    return MaterializeResult(metadata={
        "model_card": MetadataValue.json(model.card), "held_back": MetadataValue.json(model.card["held_back_metrics"]),
        "device": model.card["device"], "parameters": model.card["parameters"], "size_bytes": len(data),
        "curve": MetadataValue.md(curve_md), "path": MetadataValue.path(path)})


def _current_model(config: LearnedKieConfig, storage: StorageResource, properties: dict[str, Any]) -> Any:
    """The model serving the schema now: the promoted one in the store, else a packaged one."""
    from upstage_assets.local_engine.learned.catalog import PACKAGED_MODELS, model_from_bytes_or_path

    store = storage.output_store()
    key = _key(config, "current.pt")
    if store.exists(key):
        return model_from_bytes_or_path(io.BytesIO(store.read_bytes(key)))
    for path in sorted(PACKAGED_MODELS.glob("*.pt")):
        model = model_from_bytes_or_path(path)
        if model.serves(properties):
            return model
    return None


@asset_check(asset=KIE_MODEL, name="kie_model_not_worse", blocking=True,
             description="The candidate scores at least as well as the current model on the held-back split "
                         "(mean exact match over the fields); a worse one is never promoted.")
def kie_model_not_worse(context: AssetCheckExecutionContext, config: LearnedKieConfig,
                        storage: StorageResource) -> AssetCheckResult:
    from upstage_assets.local_engine.learned.catalog import model_from_bytes_or_path
    from upstage_assets.local_engine.learned.fit import evaluate, views_and_labels

    built = _load_training_set(config, storage)
    views, labels = views_and_labels(built.held_back)
    candidate = model_from_bytes_or_path(io.BytesIO(storage.output_store().read_bytes(_key(config, "candidate.pt"))))
    candidate_scores = evaluate(candidate, views, labels)
    current = _current_model(config, storage, built.properties)
    current_scores = evaluate(current, views, labels) if current is not None else None
    passed = current_scores is None or candidate_scores["macro"] >= current_scores["macro"]
    return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.ERROR, metadata={
        "candidate": MetadataValue.json(candidate_scores),
        "current": MetadataValue.json(current_scores or {}),
        "held_back_documents": len(views)})


@asset(key=AssetKey("current_kie_model"), deps=[KIE_MODEL], group_name=GROUP,
       description="The model the local backend uses for the schema: the candidate, once it passed "
                   "kie_model_not_worse (models/<schema>/current.pt).")
def current_kie_model(context: AssetExecutionContext, config: LearnedKieConfig,
                      storage: StorageResource) -> MaterializeResult:
    store = storage.output_store()
    data = store.read_bytes(_key(config, "candidate.pt"))
    path = store.write_bytes(_key(config, "current.pt"), data)
    card = json.loads(store.read_bytes(_key(config, "candidate.json")))
    store.write_bytes(_key(config, "current.json"), json.dumps(card, indent=1).encode())
    return MaterializeResult(metadata={"version": str(card.get("version")), "path": MetadataValue.path(path),
                                       "held_back": MetadataValue.json(card.get("held_back_metrics", {}))})


LEARNED_KIE_ASSETS = [kie_training_set, kie_model, current_kie_model]
LEARNED_KIE_CHECKS = [kie_model_not_worse]
