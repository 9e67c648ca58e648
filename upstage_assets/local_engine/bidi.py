"""Right-to-left text from a PDF text layer, in logical (reading) order.

pdfium hands characters of Arabic and Hebrew runs in visual order (left to right on the
page), so a word reads backwards ("يبيبَح" for "حَبيبي"). A simplified Unicode BiDi pass
is enough for words and lines: reverse the right-to-left runs, keep left-to-right runs
(Latin words, numbers) in their own order inside them, and read a line whose letters are
mostly right-to-left from its right end.
"""

from __future__ import annotations

import unicodedata

_RTL_CLASSES = frozenset({"R", "AL"})
_LTR_CLASSES = frozenset({"L", "EN", "AN"})
# Code points of the Hebrew and Arabic blocks (and their presentation forms): a cheap test
# before asking unicodedata.
_RTL_RANGES = ((0x0590, 0x08FF), (0xFB1D, 0xFDFF), (0xFE70, 0xFEFF), (0x10800, 0x10FFF), (0x1E800, 0x1EFFF))


def has_rtl(text: str) -> bool:
    for ch in text:
        code = ord(ch)
        if code >= 0x0590 and any(lo <= code <= hi for lo, hi in _RTL_RANGES) \
                and unicodedata.bidirectional(ch) in _RTL_CLASSES:
            return True
    return False


def _is_ltr(ch: str) -> bool:
    return unicodedata.bidirectional(ch) in _LTR_CLASSES


def visual_to_logical(text: str) -> str:
    """A word given in visual order, in logical order (its RTL letters read right to left)."""
    if not has_rtl(text):
        return text
    reversed_chars = text[::-1]
    out: list[str] = []
    run: list[str] = []
    for ch in reversed_chars:
        if _is_ltr(ch):
            run.append(ch)
            continue
        if run:
            out.extend(reversed(run))
            run = []
        out.append(ch)
    out.extend(reversed(run))
    return "".join(out)


def mostly_rtl(words: list[str]) -> bool:
    """True when most letters of the line are right-to-left ones."""
    rtl = ltr = 0
    for word in words:
        for ch in word:
            kind = unicodedata.bidirectional(ch)
            if kind in _RTL_CLASSES:
                rtl += 1
            elif kind == "L":
                ltr += 1
    return rtl > ltr


def logical_word_order(words: list[str]) -> list[str]:
    """Words of a line (left to right on the page) in reading order.

    A mostly right-to-left line reads from its right end; runs of left-to-right words
    inside it (a product name, an amount) keep their own order.
    """
    if len(words) < 2 or not mostly_rtl(words):
        return words
    out: list[str] = []
    run: list[str] = []
    for word in reversed(words):
        if has_rtl(word):
            out.extend(reversed(run))
            run = []
            out.append(word)
        else:
            run.append(word)
    out.extend(reversed(run))
    return out
