"""Extraction accuracy of the pipeline on labelled corpora.

    python bench/accuracy.py [CORPUS_DIR ...] [--backend local|emulator] [--compare-emulator N] [--limit N]

A corpus folder holds documents/<id>.<ext>, labels/<id>.json (flat {field: value}, matched
by file stem) and schema.json (an Upstage response_format). Each corpus goes through the
real pipeline (inbox sensor + Dagster runs on a temporary instance) and is scored per field:
precision (right among the values given), recall (right among the labelled values) and F1,
with values normalised (dates to ISO, amounts to decimals, case and spaces folded), plus
the character error rate of the parsed text where the corpus has line transcripts
(boxes/<id>.csv). Writes a Markdown table and a PNG chart to bench/results/ and ends with
one line per corpus: ``corpus=<name> docs=<n> macro_f1=<x>``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = [ROOT.parent / "shared" / "corpus" / "receipts", ROOT.parent / "shared" / "corpus" / "invoices"]
RESULTS = ROOT / "bench" / "results"


@dataclass
class FieldScore:
    predicted: int = 0
    labelled: int = 0
    correct: int = 0
    near: int = 0  # text fields within 90% character similarity (OCR slips)
    errors: list[tuple[str, object, object]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.labelled if self.labelled else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def near_f1(self) -> float:
        p = self.near / self.predicted if self.predicted else 0.0
        r = self.near / self.labelled if self.labelled else 0.0
        return 2 * p * r / (p + r) if p + r else 0.0


def run_pipeline(corpus: Path, backend: str, work: Path, limit: int | None) -> tuple[dict, dict, float, dict]:
    """Process the corpus; return ({stem: fields}, {stem: parsed text}, seconds, {stem: parse response})."""
    from upstage_assets.definitions import build_definitions
    from upstage_assets.operations.runner import process_inbox_once
    from upstage_assets.settings import Settings

    inbox, outputs = work / "inbox", work / "outputs"
    documents = sorted(p for p in (corpus / "documents").iterdir() if p.is_file())[: limit or None]
    for path in documents:
        target = inbox / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    os.environ.update({"UPSTAGE_ASSETS_INBOX": str(inbox), "UPSTAGE_ASSETS_OUTPUT": str(outputs),
                       "UPSTAGE_ASSETS_DEFAULT_SCHEMA": str(corpus / "schema.json"),
                       "UPSTAGE_ASSETS_BACKEND": backend})
    from dagster import DagsterInstance

    started = time.monotonic()
    with DagsterInstance.ephemeral() as instance:
        report = process_inbox_once(None, instance=instance, defs=build_definitions(Settings.from_env(backend=backend)))
    seconds = time.monotonic() - started
    fields_by_name: dict[str, dict] = {}
    text_by_name: dict[str, str] = {}
    parsed_by_name: dict[str, dict] = {}
    for record in report.records:
        kie_path = outputs / "kie" / f"{record.document_id}.json"
        parsed_path = outputs / "parsed" / f"{record.document_id}.json"
        if kie_path.exists():
            fields_by_name[record.filename] = json.loads(kie_path.read_text())["fields"]
        if parsed_path.exists():
            parsed_by_name[record.filename] = json.loads(parsed_path.read_text())
            text_by_name[record.filename] = parsed_by_name[record.filename]["content"].get("text", "")
    return fields_by_name, text_by_name, seconds, parsed_by_name


def rules_only(corpus: Path, parsed_by_name: dict) -> dict:
    """The rule-based extractor alone on the same parses (no learned model): the baseline column."""
    from upstage_assets.local_engine.kie import extract_fields

    schema = json.loads((corpus / "schema.json").read_text())
    previous = os.environ.get("UPSTAGE_ASSETS_LEARNED_KIE")
    os.environ["UPSTAGE_ASSETS_LEARNED_KIE"] = "0"
    try:
        return {name: extract_fields(parsed, schema) for name, parsed in parsed_by_name.items()}
    finally:
        if previous is None:
            os.environ.pop("UPSTAGE_ASSETS_LEARNED_KIE", None)
        else:
            os.environ["UPSTAGE_ASSETS_LEARNED_KIE"] = previous


def sources(fields_by_name: dict) -> dict[str, dict[str, int]]:
    """Per field: how many documents' values came from the model and how many from the rules."""
    counts: dict[str, dict[str, int]] = {}
    for fields in fields_by_name.values():
        for name, found in fields.items():
            if isinstance(found, dict) and found.get("value") not in (None, "", []):
                bucket = counts.setdefault(name, {})
                bucket[found.get("source", "api")] = bucket.get(found.get("source", "api"), 0) + 1
    return counts


def same_order_cer(corpus: Path, filename: str, parsed: dict) -> float:
    """CER with both sides in the same order and case: the transcripts go through the engine's own
    line grouping and layout, both pages are read as the model reads them (rows top to bottom, left
    to right), and case is folded (as the field comparison does; the transcripts are upper case
    where the print is not). The plain CER also counts every block the layout reads in another
    order than the transcripts list their lines (0.14 on perfect text) and every lower-case letter."""
    from upstage_assets.local_engine.learned.features import page_view
    from upstage_assets.local_engine.learned.transcripts import parse_from_transcripts
    from upstage_assets.operations.evaluation import character_error_rate

    boxes = corpus / "boxes" / f"{Path(filename).stem}.csv"
    reference = parse_from_transcripts(boxes, (corpus / "documents" / filename).read_bytes())
    return character_error_rate("\n".join(page_view(parsed).texts), "\n".join(page_view(reference).texts))


def score(corpus: Path, fields_by_name: dict, text_by_name: dict,
          parsed_by_name: dict | None = None) -> tuple[dict[str, FieldScore], tuple[float, float] | None, int]:
    from upstage_assets.operations.evaluation import (
        character_error_rate,
        field_kind,
        field_matches,
        text_similarity,
    )

    schema = json.loads((corpus / "schema.json").read_text())["json_schema"]["schema"]["properties"]
    scores = {name: FieldScore() for name in schema}
    cers, ordered_cers = [], []
    docs = 0
    for filename, fields in sorted(fields_by_name.items()):
        stem = Path(filename).stem
        label_path = corpus / "labels" / f"{stem}.json"
        if not label_path.exists():
            continue
        docs += 1
        labels = json.loads(label_path.read_text())
        for name, prop in schema.items():
            expected = labels.get(name)
            actual = (fields.get(name) or {}).get("value")
            s = scores[name]
            s.labelled += expected not in (None, "")
            s.predicted += actual not in (None, "", [])
            if expected not in (None, "") and field_matches(name, actual, expected, prop):
                s.correct += 1
                s.near += 1
            elif expected not in (None, ""):
                s.errors.append((filename, actual, expected))
                if actual not in (None, "") and field_kind(name, prop) == "text" and \
                        text_similarity(actual, expected) >= 0.9:
                    s.near += 1
        boxes = corpus / "boxes" / f"{stem}.csv"
        if boxes.exists() and filename in text_by_name:
            with boxes.open(newline="", encoding="utf-8", errors="replace") as fh:
                lines = [",".join(row[8:]) for row in csv.reader(fh) if len(row) >= 9]
            cers.append(character_error_rate(text_by_name[filename], "\n".join(lines)))
            if parsed_by_name and filename in parsed_by_name:
                ordered_cers.append(same_order_cer(corpus, filename, parsed_by_name[filename]))
    if not cers:
        return scores, None, docs
    return scores, (sum(cers) / len(cers), sum(ordered_cers) / len(ordered_cers) if ordered_cers else -1.0), docs


def markdown_table(name: str, scores: dict[str, FieldScore], cer: tuple[float, float] | None, docs: int,
                   seconds: float) -> str:
    lines = [f"### {name} ({docs} documents, {seconds:.0f} s)", "",
             "| field | precision | recall | F1 | F1 (text >= 90% similar) | labelled |", "|---|---|---|---|---|---|"]
    for field_name, s in scores.items():
        if s.labelled:
            lines.append(f"| {field_name} | {s.precision:.2f} | {s.recall:.2f} | {s.f1:.2f} | {s.near_f1:.2f} | "
                         f"{s.labelled} |")
    if cer is not None:
        lines.append(f"\nOCR character error rate (parsed text vs line transcripts): {cer[0]:.3f}; "
                     f"with both in the same reading order and case (`same_order_cer`): {cer[1]:.3f}")
    return "\n".join(lines)


def rules_table(name: str, scores: dict[str, FieldScore], rules: dict[str, FieldScore],
                counts: dict[str, dict[str, int]]) -> str:
    """The pipeline's F1 beside the rules alone on the same parses, with who answered each field."""
    lines = [f"#### {name}: pipeline (learned model where one serves the schema) vs rules only, same parses", "",
             "| field | pipeline F1 | rules-only F1 | values from the model | values from the rules |",
             "|---|---|---|---|---|"]
    for field_name, s in scores.items():
        if s.labelled:
            c = counts.get(field_name, {})
            lines.append(f"| {field_name} | {s.f1:.2f} | {rules[field_name].f1:.2f} | {c.get('model', 0)} | "
                         f"{c.get('rules', 0)} |")
    return "\n".join(lines)


def chart(results: dict[str, dict[str, FieldScore]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values = [], []
    for corpus, scores in results.items():
        for name, s in scores.items():
            if s.labelled:
                labels.append(f"{corpus}.{name}")
                values.append(s.f1)
    fig, ax = plt.subplots(figsize=(max(6, len(labels) * 0.7), 4))
    ax.bar(labels, values, color="#4c72b0")
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title("Extraction F1 per field")
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="*", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--backend", default="local", choices=["local", "emulator"])
    parser.add_argument("--limit", type=int, default=None, help="documents per corpus (default: all)")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)

    RESULTS.mkdir(parents=True, exist_ok=True)
    emulator = None
    if args.backend == "emulator":
        from upstage_assets.emulator.server import run_emulator_in_thread
        from upstage_assets.emulator.settings import EmulatorSettings

        emulator = run_emulator_in_thread(EmulatorSettings())
        os.environ["UPSTAGE_API_BASE_URL"] = emulator.url
        os.environ.setdefault("UPSTAGE_API_KEY", "accuracy-bench-key")
    sections, closing, all_scores = [], [], {}
    try:
        for corpus in args.corpora:
            corpus = corpus.resolve()
            with tempfile.TemporaryDirectory(prefix="accuracy-") as tmp:
                fields_by_name, text_by_name, seconds, parsed_by_name = run_pipeline(corpus, args.backend, Path(tmp),
                                                                                      args.limit)
            scores, cer, docs = score(corpus, fields_by_name, text_by_name, parsed_by_name)
            all_scores[corpus.name] = scores
            sections.append(markdown_table(corpus.name, scores, cer, docs, seconds))
            if args.backend == "local":
                rules_scores, _, _ = score(corpus, rules_only(corpus, parsed_by_name), {})
                sections.append(rules_table(corpus.name, scores, rules_scores, sources(fields_by_name)))
            if args.show_errors:
                for name, s in scores.items():
                    for filename, actual, expected in s.errors:
                        print(f"  {corpus.name}.{name} {filename}: got {actual!r}, expected {expected!r}")
            labelled = [s.f1 for s in scores.values() if s.labelled]
            macro = sum(labelled) / len(labelled) if labelled else 0.0
            closing.append(f"corpus={corpus.name} docs={docs} macro_f1={macro:.3f}")
    finally:
        if emulator is not None:
            emulator.stop()
    report = "\n\n".join(sections)
    command = "python bench/accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (RESULTS / f"accuracy-{args.backend}.md").write_text(
        f"# Extraction accuracy ({args.backend} backend)\n\nCommand: `{command.strip()}`\n\n{report}\n")
    chart(all_scores, RESULTS / f"accuracy-{args.backend}.png")
    print(report)
    print()
    for line in closing:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
