"""Fitting the tagger: seeded, on CPU or the assigned GPU, with a curve and held-back metrics.

Everything that decides the result is in ``TrainConfig`` (and recorded in the model card),
so the same data and config give the same weights on the same machine.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from upstage_assets.local_engine.learned.batch import collate, collate_targets
from upstage_assets.local_engine.learned.dataset import Example, FieldSpec, noisy
from upstage_assets.local_engine.learned.features import PageView
from upstage_assets.local_engine.learned.model import FieldTagger
from upstage_assets.local_engine.learned.predict import decode, tag
from upstage_assets.local_engine.learned.spelling import Lexicon


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 17
    epochs: int = 10
    batch_documents: int = 8
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    positive_weight: float = 4.0  # field characters are rare: weigh them up against the rest
    noise_rate: float = 0.03  # OCR-like slips added to training text each epoch (0: none)
    holdout_share: float = 0.15
    threads: int = 1  # one thread: on a shared machine a second one mostly waits


def select_device() -> torch.device:
    """The assigned GPU when the step has one (CUDA_VISIBLE_DEVICES set and visible), else CPU."""
    import os

    if os.environ.get("CUDA_VISIBLE_DEVICES", "").strip() not in ("", "-1") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _loss(model: FieldTagger, batch: list[Example], device: torch.device, positive_weight: float) -> torch.Tensor:
    chars, geometry, counts = collate([e.chars for e in batch], [e.geometry for e in batch], device)
    logits = model(chars, geometry, counts)
    targets, mask = collate_targets([e.targets for e in batch], [e.known for e in batch], logits.shape, device)
    weights = mask * (1.0 + (positive_weight - 1.0) * targets)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, targets, weight=weights, reduction="sum")
    return loss / mask.sum().clamp(min=1.0)


def field_accuracy(model: FieldTagger, views: list[PageView], labels: list[dict[str, Any]],
                   fields: list[FieldSpec], device: torch.device, lexicon: Lexicon | None = None,
                   join_shares: dict[str, float] | None = None) -> dict[str, float]:
    """Share of labelled values read exactly right (the accuracy bench's comparison)."""
    from upstage_assets.operations.evaluation import field_matches

    model.eval()
    right = dict.fromkeys((f.name for f in fields), 0)
    total = dict.fromkeys((f.name for f in fields), 0)
    for start in range(0, len(views), 16):
        chunk = views[start:start + 16]
        for view, probs, expected in zip(chunk, tag(model, chunk, device), labels[start:start + 16], strict=True):
            predictions = decode(view, probs, fields, lexicon, join_shares)
            for spec in fields:
                value = expected.get(spec.name)
                if value in (None, ""):
                    continue
                total[spec.name] += 1
                found = predictions.get(spec.name)
                kind = {"date": {"format": "date"}, "amount": {"type": "number"}}.get(spec.kind, {})
                right[spec.name] += bool(found and field_matches(spec.name, found.value, value, kind))
    return {name: round(right[name] / total[name], 4) if total[name] else 0.0 for name in right}


def train(train_set: list[Example], fields: list[FieldSpec], config: TrainConfig,
          held_back: tuple[list[PageView], list[dict[str, Any]]] | None = None,
          progress: Callable[[dict[str, Any]], None] | None = None,
          lexicon: Lexicon | None = None) -> tuple[FieldTagger, list[dict[str, Any]]]:
    """Fit a tagger; returns it and the curve (one row per epoch: losses, held-back accuracy)."""
    seed_everything(config.seed)
    torch.set_num_threads(config.threads)
    device = select_device()
    model = FieldTagger(len(fields)).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps = config.epochs * max(1, -(-len(train_set) // config.batch_documents))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.learning_rate, total_steps=steps)
    rng = random.Random(config.seed)
    curve: list[dict[str, Any]] = []
    started = time.monotonic()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = list(train_set)
        rng.shuffle(order)
        total, batches = 0.0, 0
        for start in range(0, len(order), config.batch_documents):
            batch = order[start:start + config.batch_documents]
            if config.noise_rate:
                batch = [noisy(e, rng, config.noise_rate) if e.source == "transcripts" else e for e in batch]
            optimiser.zero_grad()
            loss = _loss(model, batch, device, config.positive_weight)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            total += loss.item()
            batches += 1
        row: dict[str, Any] = {"epoch": epoch, "train_loss": round(total / max(1, batches), 5),
                               "seconds": round(time.monotonic() - started, 1)}
        if held_back is not None and (epoch % 5 == 0 or epoch == config.epochs):
            row["held_back_accuracy"] = field_accuracy(model, held_back[0], held_back[1], fields, device,
                                                           lexicon)
        curve.append(row)
        if progress:
            progress(row)
    model.eval()
    return model.cpu(), curve


def config_json(config: TrainConfig) -> dict[str, Any]:
    return asdict(config)
