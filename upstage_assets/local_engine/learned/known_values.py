"""Whole values the training labels spell, for text fields whose values come from a closed set.

A company name on a receipt is, most of the time, one of the names the training labels
already hold (chains and regular suppliers recur): when OCR has slipped on it
("99 SPEED MART 5/B", "MR. D.I. . (M) SDN BHD") the nearest known name is a better answer
than the characters as read. That is only true of a field whose distinct values lie far
apart; two branches of one chain have addresses a few characters apart, and a new address
close to a known one is still a new address. So each field is checked on its own training
labels before any value is replaced: each name seen once is held out, and if too many of
them land close to another known value, the field is never snapped (``closed_fields``).
Another schema's fields go through the same check; nothing here names a field.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

# A read value is replaced by a known one at least this similar (after folding, below)...
SNAP_SIMILARITY = 0.9
# ...when the field passed the held-out check: at most this share of the names seen once in the
# training labels lie that close to another known value (most such pairs are label variants,
# "SDN BHD" beside "SDN. BHD.", which snapping merges harmlessly).
MAX_NEAR_SHARE = 0.1
# With fewer names seen once than this the check says nothing: the field is not snapped.
MIN_HELD_OUT = 20
# OCR's look-alike slips, folded the same way on both sides before comparing.
_FOLD = str.maketrans({"0": "O", "1": "I", "L": "I", "5": "S", "8": "B", "2": "Z", "6": "G"})
_SPACE = re.compile(r"\s+")  # a label's own spelling keeps its words, one space apart


def fold(value: str) -> str:
    """Upper-case letters, digits and '&' only, look-alike digits as letters: what OCR cannot tell
    apart, and what label variants of one name ("SDN. BHD." beside "SDN BHD") share."""
    return "".join(ch for ch in value.upper() if ch.isalnum() or ch == "&").translate(_FOLD)


def similarity(left: str, right: str) -> float:
    return SequenceMatcher(None, left, right, autojunk=False).ratio()


def _nearest(key: str, candidates: Iterable[str]) -> tuple[float, str | None, float]:
    """(best similarity, its key, second-best similarity) among ``candidates`` other than ``key``."""
    best, best_key, second = 0.0, None, 0.0
    for other in candidates:
        if other == key or 2 * min(len(key), len(other)) / max(1, len(key) + len(other)) <= second:
            continue  # too different in length to beat the second best: skip the full comparison
        score = similarity(key, other)
        if score > best:
            best, best_key, second = score, other, best
        elif score > second:
            second = score
    return best, best_key, second


@dataclass
class KnownValues:
    """Per field: folded value -> (value as labelled most often, how many labels spell it)."""

    values: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    closed_fields: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"values": {name: {key: list(entry) for key, entry in table.items()}
                           for name, table in self.values.items()},
                "closed_fields": list(self.closed_fields)}

    @classmethod
    def from_json(cls, payload: dict[str, Any] | None) -> KnownValues | None:
        if not payload:
            return None
        values = {str(name): {str(key): (str(entry[0]), int(entry[1])) for key, entry in dict(table).items()}
                  for name, table in dict(payload.get("values") or {}).items()}
        return cls(values, [str(name) for name in payload.get("closed_fields") or []])

    def match(self, field_name: str, value: str) -> str | None:
        """The known value this read value is (or is an OCR slip of); None: not a known value, or the
        field's values do not recur."""
        table = self.values.get(field_name)
        if field_name not in self.closed_fields or not table or not value.strip():
            return None
        key = fold(value)
        if key in table:
            return table[key][0]
        best, best_key, second = _nearest(key, table)
        if best_key is None or best < SNAP_SIMILARITY or second >= best:
            return None  # nothing close, or two known values equally close
        return table[best_key][0]

    def snap(self, field_name: str, value: str) -> str:
        """The known value this read value is an OCR slip of, or the value as read."""
        return self.match(field_name, value) or value


def _is_closed(table: dict[str, tuple[str, int]]) -> bool:
    """Names seen once, each held out: do few enough of them lie near another known value?"""
    seen_once = [key for key, (_, count) in table.items() if count == 1]
    if len(seen_once) < MIN_HELD_OUT:
        return False
    near = sum(_nearest(key, table)[0] >= SNAP_SIMILARITY for key in seen_once)
    return near <= MAX_NEAR_SHARE * len(seen_once)


def known_values_from_labels(labels: Iterable[dict[str, Any]], text_fields: Iterable[str]) -> KnownValues:
    names = list(text_fields)
    spellings: dict[str, dict[str, Counter[str]]] = {name: {} for name in names}
    for label in labels:
        for name in names:
            value = label.get(name)
            if isinstance(value, str) and value.strip():
                spellings[name].setdefault(fold(value), Counter())[_SPACE.sub(" ", value.strip())] += 1
    values = {name: {key: (forms.most_common(1)[0][0], sum(forms.values())) for key, forms in sorted(table.items())}
              for name, table in spellings.items()}
    return KnownValues(values, [name for name in names if _is_closed(values[name])])
