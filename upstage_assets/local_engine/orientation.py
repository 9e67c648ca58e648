"""Which way up a scanned page is: 0, 90, 180 or 270 degrees to turn it upright.

Kept apart from ``ocr`` (whose model loading another change owns): it only looks at the
words a first OCR pass found. A page fed in sideways shows itself by its text lines: most
detected lines are tall and narrow. Upside down is told by the bundled text-direction
classifier (PP-OCR's 0/180 model) on the longest lines. Turning costs a second OCR pass
on the pages that need it and a few classifier calls on the others.
"""

from __future__ import annotations

import logging

import numpy as np

from upstage_assets.local_engine.ocr import OcrWord, upside_down_scores

logger = logging.getLogger(__name__)

# Lines (by length) that must run up or down the page to call it sideways.
SIDEWAYS_SHARE = 0.6
# Longest lines shown to the direction classifier, and the share that must say 180.
CLASSIFIED_LINES = 8
UPSIDE_DOWN_SHARE = 0.6
UPSIDE_DOWN_SCORE = 0.8


def _extent(word: OcrWord) -> tuple[float, float]:
    """(along, across) the quad's first edge: a text line is long along, short across."""
    (x0, y0), (x1, y1), _, (x3, y3) = word.quad
    return float(np.hypot(x1 - x0, y1 - y0)), float(np.hypot(x3 - x0, y3 - y0))


def is_sideways(words: list[OcrWord]) -> bool:
    """Most text (by box length) stands in boxes taller than wide: the page lies on its side."""
    tall = wide = 0.0
    for word in words:
        box = word.box()
        if len(word.text) < 3:
            continue
        if box.height > 1.5 * box.width:
            tall += box.height
        elif box.width > 1.5 * box.height:
            wide += box.width
    return tall > 0 and tall >= SIDEWAYS_SHARE * (tall + wide)


def is_upside_down(image: np.ndarray, words: list[OcrWord]) -> bool:
    """The direction classifier says 180 for most of the longest lines."""
    longest = sorted((w for w in words if len(w.text) >= 3), key=lambda w: -_extent(w)[0])[:CLASSIFIED_LINES]
    if len(longest) < 2:
        return False
    try:
        scores = upside_down_scores(image, [np.array(w.quad, dtype=np.float32) for w in longest])
    except Exception:  # never fail the page over orientation
        logger.debug("text direction classifier unavailable", exc_info=True)
        return False
    flipped = sum(1 for score in scores if score >= UPSIDE_DOWN_SCORE)
    return flipped >= UPSIDE_DOWN_SHARE * len(scores)


def turn_upright(image: np.ndarray, degrees: int) -> np.ndarray:
    """The image turned clockwise by ``degrees`` (a multiple of 90)."""
    return np.ascontiguousarray(np.rot90(image, k=-(degrees // 90) % 4))
