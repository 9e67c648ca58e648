"""Korean (Hangul) lines read with tesseract, which the bundled PP-OCR models cannot read.

PP-OCR's recogniser has no Hangul in its alphabet: a Korean line comes back empty, as
low-confidence Latin, or as Chinese characters it is unsure of. When enough of a page's
lines look like that, the page is read once more by Debian's ``tesseract-ocr`` with the
``kor`` data (``scripts/system-deps.sh`` installs both), and each such line takes the
tesseract words inside its box when they hold Hangul. Lines PP-OCR read confidently (Latin,
digits, Chinese) are kept. Without tesseract, a page that is mostly unreadable this way
fails with ``unsupported_script`` and says what to install; a page with a few such lines
keeps what PP-OCR read.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import os
import re
import shutil
import subprocess

import cv2
import numpy as np

from upstage_assets.errors import UnsupportedScript

logger = logging.getLogger(__name__)

HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
CJK_IDEOGRAPH = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")
# A line PP-OCR is this unsure of (or that it reads as uncertain Chinese) may be Hangul.
SUSPECT_CONFIDENCE = 0.85
SUSPECT_CJK_CONFIDENCE = 0.95
# Ask tesseract when at least this many lines, and this share of the page's lines, are suspect.
MIN_SUSPECT_LINES = 2
MIN_SUSPECT_SHARE = 0.15
# Without tesseract, a page this unreadable fails instead of passing on garbage.
UNSUPPORTED_SHARE = 0.4
TESSERACT_TIMEOUT_S = 120
# A line is taken from tesseract when this share of its letters is Hangul, read this confidently.
MIN_HANGUL_SHARE = 0.4
MIN_TESSERACT_CONFIDENCE = 0.5
# "off" turns the Korean pass off (for measuring the engine without it).
SWITCH_ENV = "UPSTAGE_ASSETS_KOREAN_OCR"


def is_suspect(text: str, confidence: float) -> bool:
    text = text.strip()
    if not text or confidence < SUSPECT_CONFIDENCE:
        return True
    return bool(CJK_IDEOGRAPH.search(text)) and confidence < SUSPECT_CJK_CONFIDENCE


@functools.cache
def tesseract_languages() -> frozenset[str]:
    """Languages the installed tesseract can read (empty when it is not installed)."""
    binary = shutil.which("tesseract")
    if binary is None:
        return frozenset()
    try:
        listed = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(line.strip() for line in listed.stdout.splitlines()[1:] if line.strip())


def korean_available() -> bool:
    return "kor" in tesseract_languages()


def should_read_korean(suspects: int, lines: int) -> bool:
    if os.environ.get(SWITCH_ENV, "on") == "off" or lines == 0:
        return False
    if suspects < MIN_SUSPECT_LINES or suspects / lines < MIN_SUSPECT_SHARE:
        return False
    if korean_available():
        return True
    if suspects / lines >= UNSUPPORTED_SHARE:
        raise UnsupportedScript(
            f"{suspects} of {lines} text lines on the page are unreadable to the bundled OCR models, as Korean "
            "(Hangul) is; install tesseract-ocr and tesseract-ocr-kor (scripts/system-deps.sh) to read them")
    return False


# A word of a line: text, confidence 0..1, and its span as fractions (start, end) of the line's length.
LineWord = tuple[str, float, float, float]
LINE_HEIGHT = 48  # line crops are brought to this height and stacked, this far apart
LINE_GAP = 24


def read_lines(crops: list[np.ndarray]) -> list[list[LineWord]]:
    """Words tesseract reads in each upright line crop (BGR), in one run over the crops stacked."""
    if not crops:
        return []
    scaled = [cv2.resize(c, (max(1, round(c.shape[1] * LINE_HEIGHT / max(1, c.shape[0]))), LINE_HEIGHT))
              for c in crops]
    width = max(c.shape[1] for c in scaled) + 2 * LINE_GAP
    canvas = np.full((len(scaled) * (LINE_HEIGHT + LINE_GAP) + LINE_GAP, width, 3), 255, dtype=np.uint8)
    for index, crop in enumerate(scaled):
        top = LINE_GAP + index * (LINE_HEIGHT + LINE_GAP)
        canvas[top:top + LINE_HEIGHT, LINE_GAP:LINE_GAP + crop.shape[1]] = crop
    lines: list[list[LineWord]] = [[] for _ in crops]
    for text, confidence, (x0, y0, x1, y1) in _tesseract_words(canvas):
        index = int(((y0 + y1) / 2 - LINE_GAP / 2) // (LINE_HEIGHT + LINE_GAP))
        if 0 <= index < len(crops):
            crop_width = scaled[index].shape[1]
            start = min(1.0, max(0.0, (x0 - LINE_GAP) / crop_width))
            lines[index].append((text, confidence, start, min(1.0, max(start, (x1 - LINE_GAP) / crop_width))))
    return [_join_syllables(sorted(words, key=lambda w: w[2]), scaled[i].shape[1]) for i, words in enumerate(lines)]


def _join_syllables(words: list[LineWord], width: int) -> list[LineWord]:
    """Join the pieces tesseract splits a Korean word into ("한", "글", "에서" -> "한글에서").

    A space between words is a clearly wider gap than those inside one: gaps under 1.6 times the
    line's median gap (bounded to 12-30% of the line height) join, when a piece holds Hangul.
    """
    if len(words) < 2:
        return words
    gaps = [(b[2] - a[3]) * width for a, b in zip(words, words[1:], strict=False)]
    median = sorted(gaps)[len(gaps) // 2]
    threshold = min(0.30 * LINE_HEIGHT, max(0.12 * LINE_HEIGHT, 1.6 * median))
    joined = [words[0]]
    for word, gap in zip(words[1:], gaps, strict=True):
        last = joined[-1]
        if gap < threshold and (HANGUL.search(last[0]) or HANGUL.search(word[0])):
            joined[-1] = (last[0] + word[0], min(last[1], word[1]), last[2], max(last[3], word[3]))
        else:
            joined.append(word)
    return joined


def _tesseract_words(image: np.ndarray) -> list[tuple[str, float, tuple[float, float, float, float]]]:
    """Words (text, confidence 0..1, pixel box) tesseract reads in a block of lines (Korean and English)."""
    ok, png = cv2.imencode(".png", image)
    if not ok:
        return []
    try:
        done = subprocess.run(["tesseract", "stdin", "stdout", "-l", "kor+eng", "--psm", "6", "tsv"],
                              input=png.tobytes(), capture_output=True, timeout=TESSERACT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("tesseract could not read the page: %s", exc)
        return []
    words = []
    rows = csv.DictReader(io.StringIO(done.stdout.decode("utf-8", "replace")), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in rows:
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        left, top = float(row["left"]), float(row["top"])
        words.append((text, max(0.0, float(row["conf"])) / 100.0,
                      (left, top, left + float(row["width"]), top + float(row["height"]))))
    return words


def is_korean_line(words: list[LineWord]) -> bool:
    """Tesseract read Hangul here, confidently: at least MIN_HANGUL_SHARE of the letters.

    (Asked to read kor+eng, tesseract turns a smudge on a Latin receipt into the odd Hangul
    syllable; a Korean line is mostly Hangul.)
    """
    text = "".join(w[0] for w in words)
    letters = [ch for ch in text if ch.isalpha()]
    if not letters or not words:
        return False
    share = sum(1 for ch in letters if HANGUL.match(ch)) / len(letters)
    confidence = sum(w[1] for w in words) / len(words)
    return share >= MIN_HANGUL_SHARE and confidence >= MIN_TESSERACT_CONFIDENCE
