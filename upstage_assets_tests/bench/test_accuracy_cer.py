"""bench/accuracy.py's same-order CER: reading order and letter case are not counted as OCR errors.

The development corpus lives outside the repository, so a one-page corpus is built here.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image

from upstage_assets.local_engine.learned.transcripts import parse_from_transcripts
from upstage_assets.operations.evaluation import character_error_rate

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import accuracy  # noqa: E402

ROWS = [("ASIA MART", 60), ("NO.23 BATU 10, TAMAN SENTOSA,", 120), ("TOTAL 12.50", 400)]


def _corpus(tmp_path: Path) -> Path:
    (tmp_path / "documents").mkdir()
    (tmp_path / "boxes").mkdir()
    buffer = io.BytesIO()
    Image.new("RGB", (600, 800), "white").save(buffer, format="JPEG")
    (tmp_path / "documents" / "001.jpg").write_bytes(buffer.getvalue())
    lines = [f"100,{y},{100 + 14 * len(text)},{y},{100 + 14 * len(text)},{y + 30},100,{y + 30},{text}"
             for text, y in ROWS]
    (tmp_path / "boxes" / "001.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_the_same_text_in_another_block_order_and_case_scores_zero(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    parsed = parse_from_transcripts(corpus / "boxes" / "001.csv", (corpus / "documents" / "001.jpg").read_bytes())
    elements = list(reversed(parsed["elements"]))  # the layout read the blocks bottom-up
    for element in elements:
        element["content"]["text"] = element["content"]["text"].title()  # as printed, not as transcribed
    reordered = {**parsed, "elements": elements, "content": {"text": "\n".join(
        e["content"]["text"] for e in elements)}}
    reference = "\n".join(text for text, _ in ROWS)
    assert character_error_rate(reordered["content"]["text"], reference) > 0.3
    assert accuracy.same_order_cer(corpus, "001.jpg", reordered) == 0.0


def test_a_misread_character_still_counts(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    parsed = parse_from_transcripts(corpus / "boxes" / "001.csv", (corpus / "documents" / "001.jpg").read_bytes())
    for element in parsed["elements"]:
        element["content"]["text"] = element["content"]["text"].replace("12.50", "12.S0")
    assert 0.0 < accuracy.same_order_cer(corpus, "001.jpg", parsed) < 0.1
