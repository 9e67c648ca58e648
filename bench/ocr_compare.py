"""OCR model sets compared on the development receipts: character error rate, word spacing, time.

    taskset -c 0 env UPSTAGE_OCR_THREADS=1 OMP_NUM_THREADS=1 \
        python bench/ocr_compare.py [--corpus ../shared/corpus/receipts] [--limit N] [--libraries]

Each model set runs through the engine's own pipeline (same preprocessing, detection
post-processing, word splitting and line grouping), so only the models differ:
``ppocrv6`` (PP-OCRv6 small, in the ``rapidocr`` 3.10 wheel) and ``ppocrv4`` (PP-OCRv4, in
``rapidocr-onnxruntime`` 1.4.4, which must be installed for this bench). ``--libraries`` adds
each library's own ``RapidOCR()`` pipeline for reference. Scored per receipt against the
line transcripts in ``boxes/``: CER (whitespace ignored, as in ``bench/accuracy.py``), word
recall (transcript words found as separate OCR words: what dropped spaces cost) and CPU
seconds per page (``time.process_time``; run pinned to one core). Writes
``bench/results/ocr_compare.md``.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from upstage_assets.evaluation import character_error_rate

from upstage_assets.local_engine.geometry import group_into_lines
from upstage_assets.local_engine.ocr import OcrWord, layout_words
from upstage_assets.local_engine.preprocess import to_bgr

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("UPSTAGE_BENCH_RESULTS", ROOT / "bench" / "results"))


def transcript(path: Path) -> str:
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        return "\n".join(",".join(row[8:]) for row in csv.reader(fh) if len(row) >= 9)


def page_text(words: list[OcrWord], image: np.ndarray) -> str:
    height, width = image.shape[:2]
    return "\n".join(line.text for line in group_into_lines(layout_words(words, width, height)))


def word_recall(predicted: list[str], reference: str) -> float:
    wanted = Counter(reference.split())
    got = Counter(token for text in predicted for token in text.split())
    return sum((wanted & got).values()) / max(1, sum(wanted.values()))


def engine_runner(name: str) -> Callable[[np.ndarray], list[OcrWord]]:
    from upstage_assets.local_engine import ocr
    from upstage_assets.local_engine.ocr_models import load_models

    ocr._engines["cpu"] = load_models(name=name)  # this process's engine: the set under test
    return lambda image: ocr.ocr_images([image])[0]


def library_runner(module: str) -> Callable[[np.ndarray], list[OcrWord]]:
    """A library's own end-to-end pipeline; its lines become one OcrWord each."""
    rapid = __import__(module, fromlist=["RapidOCR"]).RapidOCR()

    def run(image: np.ndarray) -> list[OcrWord]:
        result = rapid(image)
        if module == "rapidocr":
            boxes, texts, scores = result.boxes, result.txts, result.scores
            items = list(zip(boxes, texts, scores, strict=True)) if boxes is not None else []
        else:
            items = [(box, text, score) for box, text, score in (result[0] or [])]
        return [OcrWord(text, tuple((float(x), float(y)) for x, y in box), float(score))  # type: ignore[arg-type]
                for box, text, score in items]

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "receipts")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--libraries", action="store_true", help="also each library's own pipeline")
    args = parser.parse_args(argv)
    documents = sorted(p for p in (args.corpus / "documents").iterdir() if p.is_file())[: args.limit or None]
    configs: list[tuple[str, Callable[[], Callable[[np.ndarray], list[OcrWord]]]]] = [
        ("engine + PP-OCRv6 small (rapidocr 3.10 wheel)", lambda: engine_runner("ppocrv6")),
        ("engine + PP-OCRv4 (rapidocr-onnxruntime 1.4.4 wheel)", lambda: engine_runner("ppocrv4")),
    ]
    if args.libraries:
        configs += [("rapidocr 3.10 RapidOCR() as shipped", lambda: library_runner("rapidocr")),
                    ("rapidocr-onnxruntime 1.4.4 RapidOCR() as shipped", lambda: library_runner("rapidocr_onnxruntime"))]
    images = {p.stem: to_bgr(np.array(Image.open(p).convert("RGB"))) for p in documents}
    references = {p.stem: transcript(args.corpus / "boxes" / f"{p.stem}.csv") for p in documents}
    rows = []
    for label, build in configs:
        run = build()
        run(next(iter(images.values())))  # warm up: model load and first-call allocations
        cers, recalls, seconds = [], [], []
        for stem, image in images.items():
            started = time.process_time()
            words = run(image)
            seconds.append(time.process_time() - started)
            cers.append(character_error_rate(page_text(words, image), references[stem]))
            recalls.append(word_recall([w.text for w in words], references[stem]))
        rows.append((label, statistics.mean(cers), statistics.median(cers), statistics.mean(recalls),
                     statistics.median(seconds), statistics.mean(seconds)))
        print(f"{label}: CER {rows[-1][1]:.3f}, word recall {rows[-1][3]:.3f}, {rows[-1][4]:.2f} s/page", flush=True)
    lines = [f"# OCR model sets on the development receipts ({len(documents)} images)", "",
             "`python bench/ocr_compare.py" + (" --libraries" if args.libraries else "") + "`, one core, one OCR "
             "thread, all configurations in the same run. CER: character error rate of the page text against "
             "`boxes/` transcripts (whitespace ignored). Word recall: transcript words found as separate OCR words "
             "(low when spaces are dropped). Seconds: CPU seconds per page.", "",
             "| configuration | CER mean | CER median | word recall | s/page median | s/page mean |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.2f} | {r[5]:.2f} |" for r in rows]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ocr_compare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
