"""OCR slips in text values, repaired with the words of the training labels.

The tagger finds *where* a company name or an address is; the characters are OCR's, and
OCR drops spaces ("SANYUSTATIONERYSHOP"), adds them ("Jal an", "L ot"), confuses look-alikes
("Leve1", "Ma11", "SCLANGOR") and puts accents on plain letters ("SETIA ÁLAM"). The
lexicon is what the training labels of the model's text fields spell: their words and how
often each occurs, and whether those labels ever carry accents. It is built by ``fit``
and saved inside the model file, so a model trained on other documents brings its own
words (and keeps accents where its labels have them).

Only a token the lexicon does not know is touched, and only into words it does know:
a correct word the labels never showed is left as read. Whole values of fields whose labels
form a closed set (company names) are then matched to the nearest known value
(``known_values``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from upstage_assets.local_engine.learned.known_values import KnownValues

TOKEN = re.compile(r"[^\W_]+")
# Pieces shorter than this are not split off a run-together token (too many short words match).
MIN_SPLIT_PIECE = 3
# A token is corrected to a lexicon word one edit away only when it is at least this long and
# the word was seen at least MIN_CORRECTION_COUNT times (short words have too many neighbours).
MIN_CORRECTION_LENGTH = 6
MIN_CORRECTION_COUNT = 3
MIN_LOOK_ALIKE_LENGTH = 3
# OCR's digit-for-letter slips, and back.
LOOK_ALIKES = {"1": "LI", "0": "O", "5": "S", "8": "B", "2": "Z", "6": "G", "O": "0", "I": "1", "L": "1",
               "S": "5", "B": "8", "Z": "2", "G": "6"}


def _folded(word: str) -> str:
    return word.upper()


def strip_accents(text: str) -> str:
    """Accented Latin letters to their base letter ('Á' -> 'A'); other scripts unchanged."""
    out = []
    for ch in text:
        base = unicodedata.normalize("NFKD", ch)
        plain = "".join(c for c in base if not unicodedata.combining(c))
        out.append(plain if plain and plain.isascii() and not ch.isascii() else ch)
    return "".join(out)


@dataclass
class Lexicon:
    """Words of the training labels' text values (upper case) with their counts."""

    counts: dict[str, int] = field(default_factory=dict)
    accented: bool = False  # the labels themselves spell accented letters: keep OCR's accents
    known: KnownValues | None = None  # whole label values, one count per document (``fit`` sets it)

    def to_json(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "accented": self.accented,
                "known_values": self.known.to_json() if self.known else None}

    @classmethod
    def from_json(cls, payload: dict[str, Any] | None) -> Lexicon | None:
        if not payload:
            return None
        return cls({str(k): int(v) for k, v in dict(payload.get("counts") or {}).items()},
                   bool(payload.get("accented")), KnownValues.from_json(payload.get("known_values")))

    def __contains__(self, word: str) -> bool:
        return _folded(word) in self.counts

    def count(self, word: str) -> int:
        return self.counts.get(_folded(word), 0)


def lexicon_from_labels(labels: Iterable[dict[str, Any]], text_fields: Iterable[str]) -> Lexicon:
    names = list(text_fields)
    counts: Counter[str] = Counter()
    accented = False
    for label in labels:
        for name in names:
            value = label.get(name)
            if not isinstance(value, str):
                continue
            accented = accented or any(ch.isalpha() and not ch.isascii() for ch in value)
            counts.update(_folded(token) for token in TOKEN.findall(value))
    return Lexicon(dict(sorted(counts.items())), accented)


def _split(token: str, lexicon: Lexicon) -> list[str] | None:
    """The fewest lexicon words (each MIN_SPLIT_PIECE+ long) that spell the token, if any."""
    word = _folded(token)
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 40), end - MIN_SPLIT_PIECE + 1):
            previous = best[start]
            piece = word[start:end]
            if previous is not None and piece in lexicon.counts:
                candidate = [*previous, token[start:end]]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    pieces = best[len(word)]
    return pieces if pieces and len(pieces) > 1 else None


def _look_alike(token: str, lexicon: Lexicon) -> str | None:
    """The token with its look-alike characters swapped so it spells a lexicon word (one way only)."""
    word = _folded(token)
    if len(word) < MIN_LOOK_ALIKE_LENGTH or word.isalpha():
        return None  # 'L4' or '1A' are codes as often as slips; a word of letters is _one_edit's
    options = [[ch, *LOOK_ALIKES.get(ch, "")] for ch in word]
    if sum(len(o) > 1 for o in options) > 4:
        return None
    candidates = [""]
    for choices in options:
        candidates = [c + ch for c in candidates for ch in choices]
    known = [c for c in candidates if c != word and c in lexicon.counts]
    if not known:
        return None
    best = max(known, key=lambda c: lexicon.counts[c])
    return _same_case(token, best)


def _same_case(token: str, word: str) -> str:
    """``word`` in the token's case (a lower-case token's repaired letters in lower case too)."""
    lower = sum(ch.islower() for ch in token) > sum(ch.isupper() for ch in token)
    return "".join(w.lower() if t.islower() or (lower and i > 0) else w for i, (t, w) in enumerate(zip(token, word,
                                                                                                        strict=True)))


def _one_edit(token: str, lexicon: Lexicon) -> str | None:
    """A frequent lexicon word one substitution away from a long unknown token (same length)."""
    word = _folded(token)
    if len(word) < MIN_CORRECTION_LENGTH or not word.isalpha():
        return None
    matches = [known for known, n in lexicon.counts.items() if n >= MIN_CORRECTION_COUNT and len(known) == len(word)
               and sum(a != b for a, b in zip(known, word, strict=True)) == 1]
    if len(matches) != 1:
        return None  # none, or ambiguous
    return _same_case(token, matches[0])


def _repair_token(token: str, lexicon: Lexicon) -> str:
    if token in lexicon or token.isdigit():
        return token
    fixed = _look_alike(token, lexicon) or _one_edit(token, lexicon)
    if fixed:
        return fixed
    pieces = _split(token, lexicon)
    return " ".join(pieces) if pieces else token


def _merge_pieces(text: str, lexicon: Lexicon) -> str:
    """Join neighbours split by a stray space ('Jal an' -> 'Jalan') when together they spell a
    lexicon word and at least one of them alone does not."""
    parts = text.split(" ")
    out: list[str] = []
    for part in parts:
        if out:
            left = out[-1]
            joined = left + part
            left_core, right_core = TOKEN.fullmatch(left), TOKEN.fullmatch(part)
            head = TOKEN.findall(left)
            tail = TOKEN.findall(part)
            if head and tail and TOKEN.search(left[-1:]) and TOKEN.match(part) and \
                    (head[-1] + tail[0]) in lexicon and not (left_core and right_core and left in lexicon and
                                                             part in lexicon) and \
                    (head[-1] not in lexicon or tail[0] not in lexicon):
                out[-1] = joined
                continue
        out.append(part)
    return " ".join(out)


def repair(text: str, lexicon: Lexicon | None, field_name: str | None = None) -> str:
    """The value with OCR's spacing, look-alike and accent slips repaired where the lexicon is sure,
    then (given the field) the known value it is a slip of, where the field's values recur."""
    if lexicon is None or not lexicon.counts:
        return text
    if not lexicon.accented:
        text = strip_accents(text)
    text = _merge_pieces(text, lexicon)
    text = TOKEN.sub(lambda m: _repair_token(m.group(0), lexicon), text)
    if field_name is not None and lexicon.known is not None:
        text = lexicon.known.snap(field_name, text)
    return text
