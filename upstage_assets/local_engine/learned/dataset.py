"""Training examples: a page's lines with, per character, which fields it belongs to.

One example per document, from either source through the same code: human labels
(``corpus.iter_corpus``) or pseudo-labels (``pseudo_labels``). A field whose value is
unknown for a document (no label, a low-confidence answer, or a value that cannot be
found on the page) is masked out of that document's loss rather than taught as absent.
The held-back split is decided by the document's hash, so it is stable across runs and
the same document never lands on both sides.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from upstage_assets.local_engine.learned.corpus import LabelledDocument
from upstage_assets.local_engine.learned.features import VOCAB_SIZE, PageView, char_id, encode_line, page_view
from upstage_assets.local_engine.learned.targets import field_kind, value_spans


@dataclass
class FieldSpec:
    """A schema field as the model knows it: name and how its value is found and read."""

    name: str
    kind: str  # date | amount | text

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind}


def field_specs(properties: dict[str, Any]) -> list[FieldSpec]:
    """The scalar fields of a schema's properties; arrays and objects stay with the rules."""
    return [FieldSpec(name, field_kind(name, prop)) for name, prop in properties.items()
            if prop.get("type") not in ("array", "object")]


@dataclass
class Example:
    document_id: str
    name: str
    source: str
    chars: list[np.ndarray]  # per line: char ids
    geometry: np.ndarray  # [lines, features]
    targets: list[np.ndarray]  # per line: [chars, fields] 0/1
    known: np.ndarray  # [fields] 1 where the field's targets are meaningful
    labels: dict[str, Any] = field(default_factory=dict)
    view: PageView | None = None  # the page as read (for decoding values back in evaluation)


def make_example(view: PageView, labels: dict[str, Any], fields: list[FieldSpec], document_id: str = "",
                 name: str = "", source: str = "labels") -> Example:
    chars = [encode_line(text) for text in view.texts]
    targets = [np.zeros((len(c), len(fields)), dtype=np.float32) for c in chars]
    known = np.zeros(len(fields), dtype=np.float32)
    for index, spec in enumerate(fields):
        value = labels.get(spec.name)
        if value in (None, "", []):
            continue
        spans = value_spans(view.texts, spec.kind, value)
        if not spans:
            continue
        known[index] = 1.0
        for span in spans:
            targets[span.line][span.start:min(span.end, len(chars[span.line])), index] = 1.0
    return Example(document_id, name, source, chars, view.geometry, targets, known, dict(labels), view)


def examples_from_documents(documents: Iterable[LabelledDocument], fields: list[FieldSpec]) -> list[Example]:
    """One example per document and reading of it: a page read by OCR and from its transcripts
    gives two examples (same document id, so the split keeps them on the same side)."""
    examples: dict[tuple[str, str], Example] = {}
    for doc in documents:
        view = page_view(doc.parsed)
        if not view.lines:
            continue
        examples.setdefault((doc.document_id, doc.source),
                            make_example(view, doc.labels, fields, doc.document_id, doc.name, doc.source))
    return list(examples.values())


def is_held_back(document_id: str, share: float) -> bool:
    """Stable split: the document's hash, not its position, decides."""
    bucket = int(hashlib.sha256(f"holdout:{document_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < share


def split(examples: list[Example], holdout_share: float) -> tuple[list[Example], list[Example]]:
    train = [e for e in examples if not is_held_back(e.document_id, holdout_share)]
    held = [e for e in examples if is_held_back(e.document_id, holdout_share)]
    return train, held


# OCR confuses these (both directions); training text gets such slips so clean transcripts
# teach a model that still reads OCR output.
CONFUSABLE = ["0O", "1IL", "5S", "8B", "2Z", "6G", "MN", "UV", "CG", ",.", ":;", "EF", "PR", "HM"]


def _swap_table() -> list[list[int]]:
    table: list[list[int]] = [[] for _ in range(VOCAB_SIZE)]
    for group in CONFUSABLE:
        for ch in group:
            table[char_id(ch)].extend(char_id(o) for o in group if o != ch)
    return table


SWAPS = _swap_table()


def noisy(example: Example, rng: random.Random, rate: float) -> Example:
    """A copy with OCR-like slips: swapped look-alike characters and lost spaces."""
    space = char_id(" ")
    generator = np.random.default_rng(rng.getrandbits(32))
    chars, targets = [], []
    for line, target in zip(example.chars, example.targets, strict=True):
        rolls = generator.random(len(line))
        keep = ~((line == space) & (rolls < rate * 4))
        out = line.copy()
        for i in np.flatnonzero(rolls < rate):
            options = SWAPS[int(line[i])]
            if options:
                out[i] = options[int(generator.integers(len(options)))]
        chars.append(out[keep])
        targets.append(target[keep])
    return Example(example.document_id, example.name, example.source, chars, example.geometry, targets,
                   example.known, example.labels, example.view)
