"""Text lines in a script no bundled model reads (Hebrew, Thai, Devanagari ...): said, not guessed.

PP-OCR's recogniser knows Latin, digits and Chinese. Shown a Hebrew or Thai line it
answers a few unsure letters spread thin over a long crop ("n a n , D"), or nothing. Such
a line is unreadable when the recogniser is unsure, most of its characters are guesses
and far fewer characters came back than the crop's width holds (a Latin line gives about
one and a half per line height; these give under a half). Its words become one
``UNREADABLE`` marker word, and the element holding them is reported with
``unsupported_script`` and without the marker (or the garbage) in its text.
A page with a single such line keeps what the recogniser read, as before: one smudge on a
receipt is not a script.
"""

from __future__ import annotations

import re

# The word text standing for a line no bundled model can read: U+FDD0, a Unicode noncharacter (kept for
# a program's internal use, so never in a document's text; U+FFFD is, for one: pdf_text puts it for lone
# surrogates, and that text must come through).
UNREADABLE = "\ufdd0"
# A line this sure of itself is read (the Korean pass uses the same bound).
MAX_CONFIDENCE = 0.85
# Characters per line height of crop width below which the recogniser missed most letters.
MAX_CHARS_PER_HEIGHT = 0.5
# Share of characters below GUESS_CONFIDENCE for a line to be guessed rather than read.
MIN_GUESS_SHARE = 0.25
GUESS_CONFIDENCE = 0.5
# Only crops at least this many heights long are judged (short crops are digits, marks).
MIN_ASPECT = 4.0
# A page needs this many unreadable lines before any is reported.
MIN_UNREADABLE_LINES = 2


def is_unreadable(text: str, confidences: list[float], crop_width: int, crop_height: int) -> bool:
    """Whether a recognised line is a script the recogniser does not know (see module doc)."""
    aspect = crop_width / max(1, crop_height)
    if aspect < MIN_ASPECT:
        return False
    letters = len(text.replace(" ", ""))
    if letters == 0:
        return True
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    guesses = sum(1 for c in confidences if c < GUESS_CONFIDENCE) / max(1, len(confidences))
    return mean < MAX_CONFIDENCE and guesses >= MIN_GUESS_SHARE and letters / aspect < MAX_CHARS_PER_HEIGHT


def without_unreadable(texts: list[str]) -> tuple[list[str], bool]:
    """The texts with the marker words taken out, and whether there were any."""
    if not any(UNREADABLE in text for text in texts):
        return texts, False
    return [_MARKER.sub(" ", text).strip() for text in texts], True


_MARKER = re.compile(f" *{UNREADABLE}( *{UNREADABLE})* *")
