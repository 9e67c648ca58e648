"""Document-type accuracy of the local classifier on corpus documents (issue 17, "Document type").

Each corpus folder stands for one class: ``receipts/`` receipt, ``invoices/`` invoice, and the
documents that are neither (``forms/``: FUNSD scanned forms; ``robustness/py-pdf-sample-files``:
papers, letters, test PDFs) ``others``. Documents are parsed by the local engine through the parse
cache (``UPSTAGE_ASSETS_PARSE_CACHE``), then classified among the built-in schemas' labels,
exactly as ``schema=auto`` routes them. Writes a confusion matrix and per-class figures to
``bench/results/classification.md``.

    python bench/classification.py [--receipts 60] [--forms 30] [--cached-only]
"""

from __future__ import annotations

import argparse
import signal
import time
from collections import Counter
from pathlib import Path

from upstage_assets.ingest.naming import sha256_hex
from upstage_assets.inspection import DocumentLimits, inspect_document
from upstage_assets.local_engine.classify import classify_parsed
from upstage_assets.local_engine.learned.parse_cache import ParseCache
from upstage_assets.schemas.classification import labels_for_schemas
from upstage_assets.schemas.extraction import load_schema

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
RESULTS = Path(__file__).resolve().parent / "results" / "classification.md"
LIMITS = DocumentLimits(max_bytes=100 * 2**20, max_pages=50, max_pixels_per_page=200_000_000)


def corpus_documents(receipts: int, forms: int) -> list[tuple[str, Path]]:
    docs = [("invoice", p) for p in sorted((CORPUS / "invoices" / "documents").iterdir())]
    docs += [("receipt", p) for p in sorted((CORPUS / "receipts" / "documents").iterdir())[:receipts]]
    docs += [("others", p) for p in sorted((CORPUS / "forms" / "documents").iterdir())[:forms]]
    docs += [("others", p) for p in sorted((CORPUS / "robustness" / "py-pdf-sample-files").rglob("*.pdf"))]
    return docs


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receipts", type=int, default=60)
    parser.add_argument("--forms", type=int, default=30)
    parser.add_argument("--cached-only", action="store_true", help="skip documents not in the parse cache")
    args = parser.parse_args()
    labels = labels_for_schemas([load_schema("invoice"), load_schema("receipt")])
    cache = ParseCache()
    confusion: Counter[tuple[str, str]] = Counter()
    skipped: list[str] = []
    wrong: list[str] = []
    outcomes: list[tuple[str, str, float]] = []  # (truth, predicted, confidence)
    seconds = []
    for truth, path in corpus_documents(args.receipts, args.forms):
        data = path.read_bytes()
        try:
            info = inspect_document(data, LIMITS)
        except Exception as exc:  # encrypted, corrupt: the pipeline refuses them before classifying
            skipped.append(f"{path.name} ({type(exc).__name__})")
            continue
        parsed = cache.get(sha256_hex(data))
        if parsed is None:
            if args.cached_only:
                skipped.append(f"{path.name} (not parsed yet)")
                continue
            try:
                parsed = cache.parse(data, info.mime_type)
            except Exception as exc:  # a page the engine refuses: the pipeline fails it before classifying
                skipped.append(f"{path.name} ({type(exc).__name__})")
                continue
        started = time.perf_counter()
        result = classify_parsed(parsed, labels)
        seconds.append(time.perf_counter() - started)
        confusion[(truth, result.label)] += 1
        outcomes.append((truth, result.label, float(result.confidence or 0.0)))
        if result.label != truth:
            wrong.append(f"{path.parent.parent.name}/{path.name}: {truth} -> {result.label} ({result.confidence:.2f})")
    names = [label.name for label in labels]
    total = sum(confusion.values())
    correct = sum(n for (t, p), n in confusion.items() if t == p)
    lines = ["# Document classification, local rules (bench/classification.py)", "",
             f"Command: `python bench/classification.py --receipts {args.receipts} --forms {args.forms}"
             f"{' --cached-only' if args.cached_only else ''}`", "",
             f"Accuracy: **{correct}/{total} = {correct / total:.3f}** over the labels {names} "
             f"(the built-in schemas' labels, as `schema=auto` asks). Classification time per document "
             f"(parse excluded): median {sorted(seconds)[len(seconds) // 2] * 1000:.2f} ms.", "",
             "| truth \\ predicted | " + " | ".join(names) + " | recall |", "|---" * (len(names) + 2) + "|"]
    for truth in names:
        row = [confusion[(truth, p)] for p in names]
        lines.append(f"| {truth} | " + " | ".join(map(str, row)) + f" | {row[names.index(truth)] / max(sum(row), 1):.2f} |")
    precision = [confusion[(p, p)] / max(sum(confusion[(t, p)] for t in names), 1) for p in names]
    lines += ["| precision | " + " | ".join(f"{v:.2f}" for v in precision) + " | |", "",
              "With a fixed schema (`document_types: check`), a document is quarantined as `wrong_document_type` "
              "when its class differs with at least `min_type_confidence`:", "",
              "| min_type_confidence | invoices/receipts wrongly quarantined under their own schema | "
              "other documents kept out of the `invoice` schema |", "|---|---|---|"]
    mine = [o for o in outcomes if o[0] != "others"]
    foreign = [o for o in outcomes if o[0] != "invoice"]
    for threshold in (0.0, 0.5, 0.6, 0.7, 0.8):
        lost = sum(1 for t, p, c in mine if p != t and c >= threshold)
        caught = sum(1 for t, p, c in foreign if p != "invoice" and c >= threshold)
        lines.append(f"| {threshold:.1f}{' (default)' if threshold == 0.6 else ''} | {lost}/{len(mine)} | "
                     f"{caught}/{len(foreign)} |")
    lines += ["",
              "Misclassified:", "", *[f"- {w}" for w in wrong], "",
              f"Skipped ({len(skipped)}): " + ", ".join(skipped), ""]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
