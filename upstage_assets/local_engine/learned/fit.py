"""Train a model on a training set and describe it: weights, model card, curve, metrics.

    python -m upstage_assets.local_engine.learned.fit CORPUS --out MODEL.pt [--text ocr|transcripts|mixed]
        [--ocr-limit N] [--results DIR] [--epochs N] [--seed N]

``make train`` retrains the shipped receipt model this way. The card records the data
(source, documents, split), the schema's fields, the config (seed included), the held-back
metrics, the device and the code version (git commit when available, package version).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from upstage_assets.local_engine.learned.catalog import LearnedModel, save_model
from upstage_assets.local_engine.learned.dataset import Example, field_specs
from upstage_assets.local_engine.learned.features import PageView
from upstage_assets.local_engine.learned.known_values import known_values_from_labels
from upstage_assets.local_engine.learned.spelling import lexicon_from_labels
from upstage_assets.local_engine.learned.train import TrainConfig, field_accuracy, select_device, train
from upstage_assets.local_engine.learned.training_set import TrainingSet, from_corpus, reading

MODEL_CODE_FILES = ("features.py", "model.py", "predict.py", "targets.py", "dataset.py", "train.py", "spelling.py",
                    "known_values.py")


def code_version() -> dict[str, str]:
    """The git commit (if any) and a hash of the model's own code, which is what decides its answers."""
    from importlib import metadata

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(b"".join((here / name).read_bytes() for name in MODEL_CODE_FILES)).hexdigest()[:16]
    version: dict[str, str] = {"model_code_sha256": digest}
    try:
        version["package"] = metadata.version("upstage-assets")
    except metadata.PackageNotFoundError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            version["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def document_labels(examples: list[Example]) -> list[dict[str, Any]]:
    """One labels dict per document: a page read two ways (transcripts and OCR) is one name seen once."""
    return list({e.document_id or str(index): e.labels for index, e in enumerate(examples)}.values())


def views_and_labels(examples: list[Example]) -> tuple[list[PageView], list[dict[str, Any]]]:
    return [e.view for e in examples if e.view is not None], [e.labels for e in examples if e.view is not None]


def evaluate(model: LearnedModel, views: list[PageView], labels: list[dict[str, Any]]) -> dict[str, float]:
    """Per-field exact-match accuracy on labelled pages, plus their mean (``macro``)."""
    scores = field_accuracy(model.tagger, views, labels, model.fields, torch.device("cpu"), model.lexicon,
                            model.join_shares)
    scores["macro"] = round(sum(scores.values()) / max(1, len(scores)), 4)
    return scores


# How strongly a neighbouring line must be marked to join a text value, as a share of the value's
# anchor line, the most confidently marked (``predict._text_value``). Which works depends on the
# field: a company's brand line is marked more weakly than its legal name, the lines of an address alike.
JOIN_SHARE_GRID = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def calibrate_join_shares(model: LearnedModel, views: list[PageView], labels: list[dict[str, Any]]) -> dict[str, float]:
    """Per text field, the join share that reads the most held-back values right (ties: the lowest)."""
    text_fields = [spec.name for spec in model.fields if spec.kind == "text"]
    if not views or not text_fields:
        return {}
    best: dict[str, tuple[float, float]] = {}  # field -> (accuracy, share)
    for share in JOIN_SHARE_GRID:
        scores = field_accuracy(model.tagger, views, labels, model.fields, torch.device("cpu"), model.lexicon,
                                dict.fromkeys(text_fields, share))
        for name in text_fields:
            if name not in best or scores[name] > best[name][0]:
                best[name] = (scores[name], share)
    return {name: share for name, (_, share) in best.items()}


def fit(training_set: TrainingSet, config: TrainConfig, progress: Any = None) -> tuple[LearnedModel, list[dict[str, Any]]]:
    """Train on ``training_set.train``; the card's metrics are on ``training_set.held_back``."""
    held = views_and_labels(training_set.held_back)
    # The words of the training split's labels only: the held-back metrics stay honest.
    text_fields = [f.name for f in training_set.fields if f.kind == "text"]
    lexicon = lexicon_from_labels((e.labels for e in training_set.train), text_fields)
    lexicon.known = known_values_from_labels(document_labels(training_set.train), text_fields)
    started = time.monotonic()
    tagger, curve = train(training_set.train, training_set.fields, config, held_back=held, progress=progress,
                          lexicon=lexicon)
    seconds = time.monotonic() - started
    model = LearnedModel(tagger, training_set.fields, lexicon=lexicon)
    decoding = {"join_shares": calibrate_join_shares(model, *held), "calibrated_on": "held_back"}
    model.card = {"decoding": decoding}
    metrics = evaluate(model, *held)
    by_text = {text: evaluate(model, *views_and_labels([e for e in training_set.held_back if reading(e) == text]))
               for text in sorted({reading(e) for e in training_set.held_back})}
    description = training_set.describe()
    card = {
        "version": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "schema": training_set.schema_name,
        "fields": description["fields"],
        "schema_fields": sorted(spec.name for spec in field_specs(training_set.properties)),
        "data": {k: v for k, v in description.items() if not k.endswith("_ids")} | {
            "documents_sha256": hashlib.sha256("".join(description["train_ids"]).encode()).hexdigest()[:16]},
        "config": asdict(config),
        "decoding": decoding,
        "held_back_metrics": metrics,
        "held_back_metrics_by_text": by_text,
        "training_seconds": round(seconds, 1),
        "device": str(select_device()),
        "parameters": sum(p.numel() for p in tagger.parameters()),
        "lexicon_words": len(lexicon.counts),
        "known_values": {"fields_snapped": lexicon.known.closed_fields,
                         "values": {name: len(table) for name, table in lexicon.known.values.items()}},
        "code": code_version(),
    }
    model.card = card
    return model, curve


def _readings(counts: dict[str, int] | None) -> str:
    """' (418 by transcripts, 163 by ocr)' when a set holds more than one reading of its pages."""
    if not counts or len(counts) < 2:
        return ""
    return " (" + ", ".join(f"{n} by {text}" for text, n in sorted(counts.items(), reverse=True)) + ")"


def _shares(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:g}" for name, share in sorted(shares.items()))


def write_results(results: Path, name: str, model: LearnedModel, curve: list[dict[str, Any]],
                  command: str | None = None) -> None:
    """Curve (CSV + PNG) and a Markdown summary of the card's metrics, under ``results``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results.mkdir(parents=True, exist_ok=True)
    with (results / f"{name}-curve.csv").open("w") as fh:
        fh.write("epoch,train_loss,seconds," + ",".join(f"held_back_{f.name}" for f in model.fields) + "\n")
        for row in curve:
            accuracy = row.get("held_back_accuracy") or {}
            fh.write(f"{row['epoch']},{row['train_loss']},{row['seconds']}," +
                     ",".join(str(accuracy.get(f.name, "")) for f in model.fields) + "\n")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot([r["epoch"] for r in curve], [r["train_loss"] for r in curve])
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    scored = [r for r in curve if r.get("held_back_accuracy")]
    for spec in model.fields:
        right.plot([r["epoch"] for r in scored], [r["held_back_accuracy"][spec.name] for r in scored], marker="o",
                   label=spec.name)
    right.set_xlabel("epoch")
    right.set_ylabel("held-back exact match")
    right.set_ylim(0, 1)
    right.legend()
    fig.tight_layout()
    fig.savefig(results / f"{name}-curve.png", dpi=90)
    plt.close(fig)
    card = model.card
    lines = [f"# Learned extractor: {name}", "",
             f"Trained on {card['data']['train_documents']} documents ({card['data']['source']}, text from "
             f"{card['data']['text']}{_readings(card['data'].get('train_examples_by_text'))}), held back "
             f"{card['data']['held_back_documents']}{_readings(card['data'].get('held_back_examples_by_text'))}; "
             f"{card['parameters']:,} parameters, {card['training_seconds']:.0f} s on {card['device']} "
             f"(seed {card['config']['seed']}, {card['config']['epochs']} epochs).", "",
             *([f"Command: `{command}`", ""] if command else []),
             *([f"Text values are read back with the join shares calibrated on the held-back split "
                f"(`predict._text_value`): {_shares(card['decoding']['join_shares'])}.", ""]
               if (card.get("decoding") or {}).get("join_shares") else []),
             "Held-back exact match, all held-back examples and per reading of the page (OCR: what the "
             "pipeline reads; transcripts: the corpus's line transcripts):", ""]
    by_text = card.get("held_back_metrics_by_text") or {}
    lines += ["| field | all held back | " + " | ".join(by_text) + " |", "|---|---|" + "---|" * len(by_text)]
    lines += [f"| {k} | {v:.3f} | " + " | ".join(f"{m.get(k, 0):.3f}" for m in by_text.values()) + " |"
              for k, v in card["held_back_metrics"].items()]
    (results / f"{name}.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--text", default="ocr", choices=["ocr", "transcripts", "mixed"])
    parser.add_argument("--ocr-limit", type=int, default=None, help="mixed: OCR only the first N documents")
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)

    started = time.monotonic()
    training_set = from_corpus(args.corpus, text=args.text, limit=args.limit, ocr_limit=args.ocr_limit)
    print(f"training set: {len(training_set.train)} train, {len(training_set.held_back)} held back "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    model, curve = fit(training_set, TrainConfig(epochs=args.epochs, seed=args.seed),
                       progress=lambda row: print(json.dumps(row), flush=True))
    save_model(args.out, model.tagger, model.fields, model.card, model.lexicon)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {json.dumps(model.card['held_back_metrics'])}")
    if args.results:
        command = "python -m upstage_assets.local_engine.learned.fit " + " ".join(argv if argv is not None else
                                                                                 sys.argv[1:])
        write_results(args.results, args.out.stem, model, curve, command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
