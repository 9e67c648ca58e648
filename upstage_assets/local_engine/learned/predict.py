"""Reading field values from the tagger's per-character probabilities.

Dates and amounts are read by type: every date or amount token on the page is a candidate
and the one whose characters the model marks most strongly wins (so the value is always a
well-formed date or number, and "which number is the total" is the model's call). Text
fields take the characters the model marks, joined across lines in reading order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from upstage_assets.local_engine.field_matching import Segment
from upstage_assets.local_engine.learned.batch import collate
from upstage_assets.local_engine.learned.dataset import FieldSpec
from upstage_assets.local_engine.learned.features import SEGMENT_SEPARATOR, PageView, encode_line, segment_at
from upstage_assets.local_engine.learned.model import FieldTagger
from upstage_assets.local_engine.learned.targets import amount_tokens, date_tokens
from upstage_assets.local_engine.normalize import parse_date

# A text character belongs to the field above this probability.
TEXT_THRESHOLD = 0.5
# Characters of other kinds tolerated inside a text value (a space the model is unsure of).
TEXT_GAP = 2


@dataclass
class Prediction:
    value: Any
    confidence: float
    segment: Segment | None


def tag(model: FieldTagger, views: list[PageView], device: torch.device) -> list[list[np.ndarray]]:
    """Per view, per line: [chars, fields] probabilities."""
    chars = [[encode_line(text) for text in view.texts] for view in views]
    char_tensor, geometry, counts = collate(chars, [view.geometry for view in views], device)
    with torch.no_grad():
        probabilities = torch.sigmoid(model(char_tensor, geometry, counts)).cpu().numpy()
    return [[probabilities[d, i, :len(line)] for i, line in enumerate(page)] for d, page in enumerate(chars)]


def _best_candidate(view: PageView, probs: list[np.ndarray], field: int,
                    candidates: Callable[[str], list[tuple[int, int, Any]]]) -> Prediction | None:
    """The candidate token whose characters the model marks most strongly."""
    best: tuple[float, Any, int, int] | None = None
    for index, text in enumerate(view.texts):
        line_probs = probs[index][:, field]
        for start, end, value in candidates(text):
            end = min(end, len(line_probs))
            if end <= start or value is None:
                continue
            score = float(line_probs[start:end].mean())
            if best is None or score > best[0]:
                best = (score, value, index, start)
    if best is None:
        return None
    return Prediction(best[1], best[0], segment_at(view, best[2], best[3]))


def _dates(text: str) -> list[tuple[int, int, Any]]:
    return [(start, end, parse_date(token)) for start, end, token in date_tokens(text)]


def _amounts(text: str) -> list[tuple[int, int, Any]]:
    return [(start, end, value) for start, end, value, _ in amount_tokens(text)]


def _text_value(view: PageView, probs: list[np.ndarray], field: int) -> Prediction | None:
    pieces: list[str] = []
    scores: list[float] = []
    first: Segment | None = None
    for index in range(len(view.texts)):
        line_probs = probs[index][:, field]
        marked = np.flatnonzero(line_probs > TEXT_THRESHOLD)
        if not len(marked):
            continue
        runs: list[tuple[int, int]] = []
        for column in marked:
            if runs and column - runs[-1][1] <= TEXT_GAP + 1:
                runs[-1] = (runs[-1][0], int(column))
            else:
                runs.append((int(column), int(column)))
        start, end = max(runs, key=lambda r: r[1] - r[0])
        original = view.raw_texts[index][start:end + 1]  # as printed: the model reads upper case
        pieces.append(original.replace(SEGMENT_SEPARATOR, " ").strip())
        scores.extend(line_probs[start:end + 1].tolist())
        first = first or segment_at(view, index, start)
    if not pieces:
        return None
    value = " ".join(p for p in pieces if p).strip()
    return Prediction(value, float(np.mean(scores)), first) if value else None


def decode(view: PageView, probs: list[np.ndarray], fields: list[FieldSpec]) -> dict[str, Prediction | None]:
    out: dict[str, Prediction | None] = {}
    for index, spec in enumerate(fields):
        if not view.texts:
            out[spec.name] = None
        elif spec.kind == "date":
            out[spec.name] = _best_candidate(view, probs, index, _dates)
        elif spec.kind == "amount":
            out[spec.name] = _best_candidate(view, probs, index, _amounts)
        else:
            out[spec.name] = _text_value(view, probs, index)
    return out
