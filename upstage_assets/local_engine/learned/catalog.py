"""Saved models: one file of weights plus its card, and which model serves which schema.

A model file (``.pt``, read with ``weights_only=True``: no pickled code runs on load) holds
the tagger's weights and config, the fields it was trained for, and the model card (data,
schema, metrics, code version). A model serves a schema with the same scalar fields as the
schema it was trained for (``schema_fields`` in its card); the fields it could not learn
(never found on the pages) are left to the rules.

Models are looked up in ``$UPSTAGE_ASSETS_MODEL_DIR`` (default: the local output root's ``models/``;
``<dir>/<schema>/current.pt``, written when a trained model passes its evaluation) before the
defaults shipped in the package.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from upstage_assets.local_engine.learned.dataset import FieldSpec, field_specs
from upstage_assets.local_engine.learned.model import FieldTagger
from upstage_assets.local_engine.learned.spelling import Lexicon

MODEL_FORMAT = 1
PACKAGED_MODELS = Path(__file__).resolve().parent / "models"
CURRENT_MODEL_FILE = "current.pt"


@dataclass
class LearnedModel:
    tagger: FieldTagger
    fields: list[FieldSpec]
    card: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    lexicon: Lexicon | None = None  # the training labels' words, for OCR slips in text values

    @property
    def join_shares(self) -> dict[str, float]:
        """Per text field, how strongly a neighbouring line must be marked to join the value
        (calibrated on the held-back split by ``fit``; kept in the card; absent: 0, any marked line)."""
        shares = (self.card.get("decoding") or {}).get("join_shares") or {}
        return {str(name): float(share) for name, share in shares.items()}

    def serves(self, properties: dict[str, Any]) -> bool:
        """The schema is the one the model was trained for: the same scalar fields (names and kinds).

        Fields of that schema the training data never showed stay with the rules; a schema with
        other fields (the built-in receipt schema adds currency and receipt_number to the SROIE
        fields) is not assumed to mean the same thing by the same names.
        """
        specs = field_specs(properties)
        wanted = {(spec.name, spec.kind) for spec in specs}
        trained_for = self.card.get("schema_fields")
        if trained_for is not None and sorted(trained_for) != sorted(spec.name for spec in specs):
            return False
        return bool(self.fields) and all((spec.name, spec.kind) in wanted for spec in self.fields)


def model_bytes(tagger: FieldTagger, fields: list[FieldSpec], card: dict[str, Any],
                lexicon: Lexicon | None = None) -> bytes:
    """The model file's bytes: weights, config, fields and card."""
    import io

    state = {name: tensor.detach().cpu() for name, tensor in tagger.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"format": MODEL_FORMAT, "config": dict(tagger.config), "fields": [f.to_json() for f in fields],
                "card": card, "state_dict": state, "lexicon": lexicon.to_json() if lexicon else None}, buffer)
    return buffer.getvalue()


def save_model(path: Path, tagger: FieldTagger, fields: list[FieldSpec], card: dict[str, Any],
               lexicon: Lexicon | None = None) -> Path:
    """Write atomically (a reader never loads half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(model_bytes(tagger, fields, card, lexicon))
    os.replace(tmp, path)
    return path


def model_from_bytes_or_path(source: Path | Any) -> LearnedModel:
    payload = torch.load(source, map_location="cpu", weights_only=True)
    if payload.get("format") != MODEL_FORMAT:
        raise ValueError(f"unknown model format {payload.get('format')!r}")
    config = dict(payload["config"])
    tagger = FieldTagger(int(config.pop("fields")), **{k: int(v) for k, v in config.items()})
    tagger.load_state_dict(payload["state_dict"])
    tagger.eval()
    fields = [FieldSpec(f["name"], f["kind"]) for f in payload["fields"]]
    return LearnedModel(tagger, fields, dict(payload.get("card") or {}), source if isinstance(source, Path) else None,
                        Lexicon.from_json(payload.get("lexicon")))


def load_model(path: Path) -> LearnedModel:
    return model_from_bytes_or_path(path)


def model_dir_from_env() -> Path | None:
    """``UPSTAGE_ASSETS_MODEL_DIR``, else the ``models/`` folder of a local output root (where
    ``current_kie_model`` promotes to); an S3 output root has no local folder to read."""
    value = os.environ.get("UPSTAGE_ASSETS_MODEL_DIR", "").strip()
    if value:
        return Path(value)
    from upstage_assets.settings import Settings

    root = Settings.from_env().output_root
    return None if "://" in root else Path(root) / "models"


def candidate_paths() -> list[Path]:
    """Promoted models first (one ``current.pt`` per schema folder), then the packaged defaults."""
    paths: list[Path] = []
    directory = model_dir_from_env()
    if directory is not None and directory.is_dir():
        paths += sorted(directory.glob(f"*/{CURRENT_MODEL_FILE}"))
    if PACKAGED_MODELS.is_dir():
        paths += sorted(PACKAGED_MODELS.glob("*.pt"))
    return paths


_loaded: dict[tuple[str, int], LearnedModel] = {}
_lock = threading.Lock()


def _cached(path: Path) -> LearnedModel | None:
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return None
    with _lock:
        if key not in _loaded:
            try:
                _loaded[key] = load_model(path)
            except Exception:  # torch raises many types for a damaged file (UnpicklingError, ...)
                return None  # an unreadable model never breaks extraction: the rules answer
        return _loaded[key]


def model_for_schema(properties: dict[str, Any]) -> LearnedModel | None:
    """The first model (promoted, then packaged) that serves the schema; None: rules only."""
    if os.environ.get("UPSTAGE_ASSETS_LEARNED_KIE", "1").strip().lower() in ("0", "false", "off", "no"):
        return None
    for path in candidate_paths():
        model = _cached(path)
        if model is not None and model.serves(properties):
            return model
    return None
