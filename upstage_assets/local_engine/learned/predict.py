"""Reading field values from the tagger's per-character probabilities.

Dates and amounts are read by type: every date or amount token on the page is a candidate
and the one whose characters the model marks most strongly wins (so the value is always a
well-formed date or number, and "which number is the total" is the model's call). Text
fields take the whole words the model marks, joined across adjacent lines in reading order,
then go through the model's lexicon (``spelling``) for OCR's spacing and look-alike slips.
"""

from __future__ import annotations

import re
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
from upstage_assets.local_engine.learned.spelling import Lexicon, repair
from upstage_assets.local_engine.learned.targets import amount_tokens, date_tokens
from upstage_assets.local_engine.normalize import parse_date


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
                    candidates: Callable[[str], list[tuple[int, int, Any, float]]]) -> Prediction | None:
    """The candidate token whose characters the model marks most strongly (times its prior weight)."""
    best: tuple[float, Any, int, int] | None = None
    for index, text in enumerate(view.texts):
        line_probs = probs[index][:, field]
        for start, end, value, weight in candidates(text):
            end = min(end, len(line_probs))
            if end <= start or value is None:
                continue
            score = float(line_probs[start:end].mean()) * weight
            if best is None or score > best[0]:
                best = (score, value, index, start)
    if best is None:
        return None
    return Prediction(best[1], best[0], segment_at(view, best[2], best[3]))


def _dates(text: str) -> list[tuple[int, int, Any, float]]:
    return [(start, end, parse_date(token), 1.0) for start, end, token in date_tokens(text)]


# Totals and prices are written with cents; a bare integer (a count, a table number) needs
# clearly stronger marks to win (the rules weigh bare integers down the same way).
BARE_INTEGER_WEIGHT = 0.6


def _amounts(text: str) -> list[tuple[int, int, Any, float]]:
    return [(start, end, value, 1.0 if decimals else BARE_INTEGER_WEIGHT)
            for start, end, value, decimals in amount_tokens(text)]


WORD = re.compile(r"\S+")
# A word belongs to a text value when its characters' mean probability is above this: the model's
# marks inside a word are patchy ("+###+#+##"), its words are not.
WORD_THRESHOLD = 0.4


def _word_run(text: str, line_probs: np.ndarray) -> tuple[int, int, float] | None:
    """(start, end inclusive, mean probability) of the longest run of whole words the model marks."""
    words = [(m.start(), min(m.end(), len(line_probs))) for m in WORD.finditer(text[:len(line_probs)])]
    marked = [float(line_probs[a:b].mean()) > WORD_THRESHOLD if b > a else False for a, b in words]
    runs: list[tuple[int, int]] = []  # word index ranges
    for index, is_marked in enumerate(marked):
        if not is_marked:
            continue
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    if not runs:
        return None
    first, last = max(runs, key=lambda r: words[r[1]][1] - words[r[0]][0])
    start, end = words[first][0], words[last][1] - 1
    if end - start < 1:
        return None
    return start, end, float(line_probs[start:end + 1].mean())


def _text_value(view: PageView, probs: list[np.ndarray], field: int, join_share: float = 0.0) -> Prediction | None:
    """The most confidently marked line (the highest mean mark over its run of words), grown over
    the marked lines right above and below it: a value is one block of lines, so a stray mark
    elsewhere on the page does not join it. A neighbour joins when its marks are at least
    ``join_share`` of the anchor line's (0: any marked line): a brand printed above a company's
    legal name is marked, but more weakly than the name. The anchor is chosen by confidence, not
    by marked length, so a longer, weakly marked line (a trading name printed beside the name
    the labels give) does not outweigh it."""
    runs = [_word_run(view.texts[index], probs[index][:, field]) for index in range(len(view.texts))]
    strengths = [run[2] if run else 0.0 for run in runs]
    if not any(strengths):
        return None
    anchor = int(np.argmax(strengths))
    anchor_run = runs[anchor]
    bar = join_share * anchor_run[2] if anchor_run else 0.0

    def joins(run: tuple[int, int, float] | None) -> bool:
        return run is not None and run[2] >= bar

    first_line = last_line = anchor
    while first_line > 0 and joins(runs[first_line - 1]):
        first_line -= 1
    while last_line + 1 < len(runs) and joins(runs[last_line + 1]):
        last_line += 1
    pieces: list[str] = []
    scores: list[float] = []
    starts: list[int] = []
    for index in range(first_line, last_line + 1):
        run = runs[index]
        if run is None:
            continue
        start, end, _ = run
        original = view.raw_texts[index][start:end + 1]  # as printed: the model reads upper case
        pieces.append(original.replace(SEGMENT_SEPARATOR, " ").strip())
        scores.extend(probs[index][start:end + 1, field].tolist())
        starts.append(start)
    value = " ".join(p for p in pieces if p).strip()
    if not value:
        return None
    return Prediction(value, float(np.mean(scores)), segment_at(view, first_line, starts[0]))


def decode(view: PageView, probs: list[np.ndarray], fields: list[FieldSpec],
           lexicon: Lexicon | None = None, join_shares: dict[str, float] | None = None) -> dict[str, Prediction | None]:
    """Each field's value; text values get their OCR slips repaired with the model's lexicon, and
    their lines joined as the model's calibration says (``join_shares``, per field; 0 by default)."""
    out: dict[str, Prediction | None] = {}
    for index, spec in enumerate(fields):
        if not view.texts:
            out[spec.name] = None
        elif spec.kind == "date":
            out[spec.name] = _best_candidate(view, probs, index, _dates)
        elif spec.kind == "amount":
            out[spec.name] = _best_candidate(view, probs, index, _amounts)
        else:
            found = _text_value(view, probs, index, (join_shares or {}).get(spec.name, 0.0))
            if found is not None and lexicon is not None:
                found.value = repair(found.value, lexicon, spec.name)
            out[spec.name] = found
    return out
