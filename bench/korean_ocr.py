"""Korean OCR: the local engine with and without its tesseract pass, against Upstage's OCR output.

    python bench/korean_ocr.py [--corpus ../shared/corpus/korean/upstage_cookbook_ocr]

Each image or PDF under ``images/`` goes through the engine's OCR response (``ocr_document``)
twice, with ``UPSTAGE_ASSETS_KOREAN_OCR`` off (PP-OCR alone) and on (Korean lines read by
tesseract), and is scored against the text of Upstage's OCR response stored beside it in
``upstage_ocr_outputs/`` (machine output, not ground truth): character error rate
(whitespace ignored; reading-order differences count as errors) and Hangul recall (the
share of Upstage's Hangul characters found, order ignored). Writes
``bench/results/korean_ocr.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

from upstage_assets.evaluation import character_error_rate

from upstage_assets.inspection import sniff_mime_type
from upstage_assets.local_engine import korean
from upstage_assets.local_engine.document_parse import ocr_document

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("UPSTAGE_BENCH_RESULTS", ROOT / "bench" / "results"))


def hangul_recall(predicted: str, reference: str) -> float | None:
    wanted = Counter(korean.HANGUL.findall(reference))
    if not wanted:
        return None
    got = Counter(korean.HANGUL.findall(predicted))
    return sum((wanted & got).values()) / sum(wanted.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path,
                        default=ROOT.parent / "shared" / "corpus" / "korean" / "upstage_cookbook_ocr")
    args = parser.parse_args(argv)
    rows = []
    for path in sorted((args.corpus / "images").iterdir()):
        reference_path = args.corpus / "upstage_ocr_outputs" / f"{path.stem}.json"
        if not reference_path.exists():
            continue
        reference = json.loads(reference_path.read_text())["text"]
        data = path.read_bytes()
        mime = sniff_mime_type(data)
        row = [path.name]
        for switch in ("off", "on"):
            os.environ[korean.SWITCH_ENV] = switch
            started = time.process_time()
            text = ocr_document(data, mime_type=mime)["text"]
            seconds = time.process_time() - started
            recall = hangul_recall(text, reference)
            row += [f"{character_error_rate(text, reference):.3f}", "-" if recall is None else f"{recall:.2f}",
                    f"{seconds:.1f}"]
        rows.append(row)
        print(" | ".join(row), flush=True)
    lines = ["# Korean OCR against Upstage's OCR output", "",
             "`python bench/korean_ocr.py` on `../shared/corpus/korean/upstage_cookbook_ocr/` (Upstage's responses "
             "are machine output, not ground truth). CER: character error rate, whitespace ignored, reading order "
             "counts. Hangul recall: Upstage's Hangul characters found, order ignored. s: CPU seconds of this "
             f"process (tesseract runs as a child process: its time is not included). tesseract languages: "
             f"{', '.join(sorted(korean.tesseract_languages())) or 'none'}.", "",
             "| file | CER PP-OCR only | Hangul recall | s | CER with tesseract (kor) | Hangul recall | s |",
             "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "korean_ocr.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
