"""A training set from one source (human labels or pseudo-labels), split and described.

Both sources end as ``LabelledDocument``s and go through the same target matching
(``dataset.examples_from_documents``); the description (which documents, from which
source, how many values were found on the page, the split) is what the Dagster
training-set asset shows and the model card keeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from upstage_assets.ingest.naming import sha256_hex
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

# "mixed": every page from its transcripts plus the OCR of the first ``ocr_limit`` pages (all when
# None): the model learns what OCR does to the text (merged and split lines, slips) from pages it
# will read that way, and keeps the clean transcripts' many examples of each field.
TEXT_SOURCES = ("ocr", "transcripts", "mixed")


@dataclass
class TrainingSet:
    fields: list[FieldSpec]
    schema_name: str
    source: str  # "labels:<corpus>" or "pseudo:<store>"
    text: str  # "ocr" (the local engine's parse), "transcripts" (boxes/), "mixed" or "stored" (the API's parse)
    train: list[Example]
    held_back: list[Example]
    documents: list[LabelledDocument] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        def found(examples: list[Example]) -> dict[str, float]:
            if not examples:
                return {}
            known = np.array([e.known for e in examples])
            return {f.name: round(float(known[:, i].mean()), 3) for i, f in enumerate(self.fields)}

        def readings(examples: list[Example]) -> dict[str, int]:
            counts: dict[str, int] = {}
            for e in examples:
                counts[reading(e)] = counts.get(reading(e), 0) + 1
            return counts

        return {"schema": self.schema_name, "fields": [f.to_json() for f in self.fields], "source": self.source,
                "text": self.text, "train_documents": len({e.document_id for e in self.train}),
                "held_back_documents": len({e.document_id for e in self.held_back}),
                "train_examples_by_text": readings(self.train), "held_back_examples_by_text": readings(self.held_back),
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


def reading(example: Example) -> str:
    """How an example's page was read: ``transcripts`` or ``ocr`` (any parse: local OCR, the API's)."""
    return "transcripts" if example.source == "transcripts" else "ocr"


def from_corpus(corpus: Path, *, text: str = "ocr", holdout_share: float = 0.15, limit: int | None = None,
                cache: ParseCache | None = None, ocr_limit: int | None = None) -> TrainingSet:
    """Human labels: a corpus folder, read by OCR (cached), from its line transcripts, or both (``mixed``)."""
    if text not in TEXT_SOURCES:
        raise ValueError(f"text must be one of {TEXT_SOURCES}, not {text!r}")
    name, properties = schema_name_and_properties(corpus_schema(corpus))
    documents: Iterable[LabelledDocument]
    if text == "transcripts":
        documents = _transcript_documents(corpus, limit)
    elif text == "ocr":
        documents = iter_corpus(corpus, cache=cache, limit=limit)
    else:
        ocr_count = limit if ocr_limit is None else min(ocr_limit, limit or ocr_limit)
        ocr_documents = iter_corpus(corpus, cache=cache, limit=ocr_count) if ocr_count != 0 else []
        documents = [*_transcript_documents(corpus, limit), *ocr_documents]
    return from_documents(documents, properties, name, f"labels:{corpus.name}", text=text,
                          holdout_share=holdout_share)


def from_documents(documents: Iterable[LabelledDocument], properties: dict[str, Any], schema_name: str,
                   source: str, *, text: str = "stored", holdout_share: float = 0.15) -> TrainingSet:
    """Any labelled documents (a corpus, pseudo-labels from the output store) with the schema's fields."""
    fields = field_specs(properties)
    unique = list({(doc.document_id, doc.source): doc for doc in documents}.values())
    examples = examples_from_documents(unique, fields)
    fields, examples = _learnable(fields, examples)
    train, held = split(examples, holdout_share)
    return TrainingSet(fields, schema_name, source, text, train, held, unique, properties)


# A field needs this many documents with its value found on the page to be learned at all.
MIN_FIELD_EXAMPLES = 3


def _learnable(fields: list[FieldSpec], examples: list[Example]) -> tuple[list[FieldSpec], list[Example]]:
    """Drop fields the data never shows (they stay with the rules), and their target columns."""
    if not examples:
        return fields, examples
    counts = np.sum([e.known for e in examples], axis=0)
    keep = [i for i in range(len(fields)) if counts[i] >= MIN_FIELD_EXAMPLES]
    if len(keep) == len(fields):
        return fields, examples
    for e in examples:
        e.targets = [t[:, keep] for t in e.targets]
        e.known = e.known[keep]
    return [fields[i] for i in keep], examples


MANIFEST_FORMAT = 1


def to_manifest(training_set: TrainingSet) -> dict[str, Any]:
    """The whole training set as JSON: which documents, their labels and parses, the split."""
    held = {e.document_id for e in training_set.held_back}
    used = held | {e.document_id for e in training_set.train}
    return {"format": MANIFEST_FORMAT, "schema": training_set.schema_name, "properties": training_set.properties,
            "source": training_set.source, "text": training_set.text,
            "documents": [{"document_id": d.document_id, "name": d.name, "source": d.source,
                           "split": "held_back" if d.document_id in held else "train", "labels": d.labels,
                           "parsed": d.parsed} for d in training_set.documents if d.document_id in used]}


def from_manifest(manifest: dict[str, Any]) -> TrainingSet:
    """The training set a manifest describes, with the split it recorded."""
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"unknown training-set format {manifest.get('format')!r}")
    properties = manifest["properties"]
    fields = field_specs(properties)
    documents = [LabelledDocument(d["document_id"], d["name"], d["parsed"], d["labels"], d["source"])
                 for d in manifest["documents"]]
    held_ids = {d["document_id"] for d in manifest["documents"] if d["split"] == "held_back"}
    fields, examples = _learnable(fields, examples_from_documents(documents, fields))
    return TrainingSet(fields, manifest["schema"], manifest["source"], manifest["text"],
                       [e for e in examples if e.document_id not in held_ids],
                       [e for e in examples if e.document_id in held_ids], documents, properties)
