"""A training set from one source (human labels or pseudo-labels), split and described.

Both sources end as ``LabelledDocument``s and go through the same target matching
(``dataset.examples_from_documents``); the description (which documents, from which
source, how many values were found on the page, the split) is what the Dagster
training-set asset shows and the model card keeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from upstage_assets.local_engine.learned.corpus import (
    LabelledDocument,
    corpus_files,
    corpus_schema,
    iter_corpus,
)
from upstage_assets.local_engine.learned.dataset import (
    Example,
    FieldSpec,
    examples_from_documents,
    field_specs,
    split,
)
from upstage_assets.local_engine.learned.parse_cache import ParseCache
from upstage_assets.partitions import sha256_hex

TEXT_SOURCES = ("ocr", "transcripts")


@dataclass
class TrainingSet:
    fields: list[FieldSpec]
    schema_name: str
    source: str  # "labels:<corpus>" or "pseudo:<store>"
    text: str  # "ocr" (the local engine's parse), "transcripts" (boxes/) or "stored" (the API's parse)
    train: list[Example]
    held_back: list[Example]

    def describe(self) -> dict[str, Any]:
        def found(examples: list[Example]) -> dict[str, float]:
            if not examples:
                return {}
            known = np.array([e.known for e in examples])
            return {f.name: round(float(known[:, i].mean()), 3) for i, f in enumerate(self.fields)}

        return {"schema": self.schema_name, "fields": [f.to_json() for f in self.fields], "source": self.source,
                "text": self.text, "train_documents": len(self.train), "held_back_documents": len(self.held_back),
                "values_found_on_page": found(self.train + self.held_back),
                "train_ids": sorted(e.document_id for e in self.train),
                "held_back_ids": sorted(e.document_id for e in self.held_back)}


def schema_name_and_properties(schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from upstage_assets.local_engine.kie import object_schema

    name = str((schema.get("json_schema") or {}).get("name") or "schema")
    return name, object_schema(schema).get("properties", {})


def _transcript_documents(corpus: Path, limit: int | None) -> Iterable[LabelledDocument]:
    from upstage_assets.local_engine.learned.transcripts import parse_from_transcripts

    for path, label_path in corpus_files(corpus)[: limit or None]:
        boxes = corpus / "boxes" / f"{path.stem}.csv"
        if not boxes.exists():
            continue
        data = path.read_bytes()
        yield LabelledDocument(sha256_hex(data), path.name, parse_from_transcripts(boxes, data),
                               json.loads(label_path.read_text()), "transcripts")


def from_corpus(corpus: Path, *, text: str = "ocr", holdout_share: float = 0.15, limit: int | None = None,
                cache: ParseCache | None = None) -> TrainingSet:
    """Human labels: a corpus folder, read by OCR (cached) or from its line transcripts."""
    if text not in TEXT_SOURCES:
        raise ValueError(f"text must be one of {TEXT_SOURCES}, not {text!r}")
    name, properties = schema_name_and_properties(corpus_schema(corpus))
    fields = field_specs(properties)
    documents = _transcript_documents(corpus, limit) if text == "transcripts" else \
        iter_corpus(corpus, cache=cache, limit=limit)
    train, held = split(examples_from_documents(documents, fields), holdout_share)
    return TrainingSet(fields, name, f"labels:{corpus.name}", text, train, held)


def from_documents(documents: Iterable[LabelledDocument], properties: dict[str, Any], schema_name: str,
                   source: str, *, holdout_share: float = 0.15) -> TrainingSet:
    """Any labelled documents (pseudo-labels from the output store, say) with the schema's fields."""
    fields = field_specs(properties)
    train, held = split(examples_from_documents(documents, fields), holdout_share)
    return TrainingSet(fields, schema_name, source, "stored", train, held)
