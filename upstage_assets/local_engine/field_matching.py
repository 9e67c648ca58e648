"""Geometry-aware label/value pairing over a Document Parse response.

The parse gives elements with text and a box. Each element's text is split into visual
lines (boxes interpolated from the element's box) and each line into segments at runs of
two or more spaces, where the layout engine keeps the gap between a label and its value.
A field's value is then found next to a matching label: after the label in the same
segment, in the next segment to the right, or in the line below.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

SEGMENT_GAP = re.compile(r"\s{2,}|\t")


@dataclass(frozen=True)
class Segment:
    text: str
    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    line: int  # index of the line in reading order
    position: int  # index of the segment within its line
    category: str

    @property
    def coordinates(self) -> list[dict[str, float]]:
        return [{"x": round(self.x0, 4), "y": round(self.y0, 4)}, {"x": round(self.x1, 4), "y": round(self.y0, 4)},
                {"x": round(self.x1, 4), "y": round(self.y1, 4)}, {"x": round(self.x0, 4), "y": round(self.y1, 4)}]


def _box(element: dict[str, Any]) -> tuple[float, float, float, float]:
    points = element.get("coordinates") or []
    if len(points) < 4:
        return 0.0, 0.0, 1.0, 1.0
    xs = [p["x"] for p in points]
    ys = [p["y"] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def document_lines(parse_response: dict[str, Any]) -> list[list[Segment]]:
    """Visual lines in reading order, each a list of segments left to right."""
    lines: list[list[Segment]] = []
    for element in parse_response.get("elements", []):
        text = (element.get("content") or {}).get("text") or ""
        rows = [r for r in text.split("\n") if r.strip()]
        if not rows:
            continue
        x0, y0, x1, y1 = _box(element)
        height = (y1 - y0) / len(rows)
        for r, row in enumerate(rows):
            parts = [p for p in SEGMENT_GAP.split(row.strip()) if p.strip()]
            width = max(1, len(row))
            segments, offset = [], 0
            for position, part in enumerate(parts):
                start = row.find(part, offset)
                offset = start + len(part)
                sx0 = x0 + (x1 - x0) * start / width
                sx1 = x0 + (x1 - x0) * offset / width
                segments.append(Segment(part.strip(), int(element.get("page", 1)), sx0, y0 + r * height, sx1,
                                        y0 + (r + 1) * height, len(lines), position, element.get("category", "")))
            lines.append(segments)
    return lines


NUMBER_SIGN = re.compile(r"(?<![A-Za-z])[Nn]\s*[°º]|№")


def spell_number_signs(text: str) -> str:
    """'FACTURE N° 12' -> 'FACTURE No 12': the sign as the letters label hints use."""
    return NUMBER_SIGN.sub("No ", text)


def fold_accents(text: str) -> str:
    """'Šaving' -> 'Saving', 'Numéro' -> 'Numero' (Hangul syllables recomposed, not split into jamo)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def normalise_label(text: str) -> str:
    """Case-folded words without accents; number signs ("N°", "Nº", "№") read as "no", "#" kept."""
    return re.sub(r"[^0-9a-z가-힣#]+", " ", fold_accents(spell_number_signs(text)).casefold()).strip()


@dataclass(frozen=True)
class LabelHit:
    segment: Segment
    strength: float  # 1.0: the segment starts with a full hint; lower for partial matches
    remainder: str  # text after the label inside the same segment


def find_labels(lines: list[list[Segment]], hints: list[str], exclude: tuple[str, ...] | list[str] = ()) -> list[LabelHit]:
    """Segments that start with one of the label hints (longest hint first).

    Spaces are ignored when comparing, because OCR often glues words ("DueDate", "BillNo").
    """
    ordered = sorted({normalise_label(h) for h in hints if h.strip()}, key=len, reverse=True)
    excluded = [normalise_label(e).replace(" ", "") for e in exclude]
    hits = []
    for line in lines:
        for segment in line:
            norm = normalise_label(segment.text)
            squeezed = norm.replace(" ", "")
            if not norm or any(squeezed.startswith(e) for e in excluded):
                continue
            matched = False
            for hint in ordered:
                compact = hint.replace(" ", "")
                whole_word = norm == hint or norm.startswith(hint + " ")
                if whole_word or (len(compact) >= 4 and squeezed.startswith(compact)):
                    remainder = _after_label(segment.text, hint)
                    generic = len(compact) <= 2 or (len(hint.split()) == 1 and hint in GENERIC_HINTS)
                    strength = 0.6 if generic else (1.0 if len(hint.split()) > 1 or len(squeezed) <= len(compact) + 2
                                                    or remainder else 0.8)
                    hits.append(LabelHit(segment, strength, remainder))
                    matched = True
                    break
            if not matched:  # OCR misreads ("Tatel Am Payubte" for "Total Amt Payable"): a close, long hint
                for hint in ordered:
                    compact = hint.replace(" ", "")
                    if len(compact) >= 8 and SequenceMatcher(None, squeezed[: len(compact)], compact).ratio() >= 0.8:
                        hits.append(LabelHit(segment, 0.7, ""))
                        break
    return hits


# Words that label many things (or title the whole document): weak evidence on their own.
GENERIC_HINTS = {"invoice", "receipt", "no", "amount", "total", "date", "name", "number", "bill"}


def _after_label(text: str, hint: str) -> str:
    """The part of a segment after its label: 'Invoice No: 123' -> '123', 'No.T62' -> 'T62'."""
    text = spell_number_signs(text)
    words = [re.escape(w) for w in hint.split()]
    # A hint ending in a symbol ("rechnung #") needs no word boundary after it; number signs
    # ("N°", "№", "#") and the usual punctuation between a label and its value are skipped.
    pattern = r"^\W*" + r"[\W_]*".join(words) + r"(?:\.|\b|(?=[0-9])|(?<=\W))[\s:#.\-]*"
    match = re.match(pattern, text, flags=re.IGNORECASE)
    if match:
        return text[match.end():].strip()
    if ":" in text:
        return text.partition(":")[2].strip()
    return ""


def neighbours(lines: list[list[Segment]], hit: LabelHit, max_below: int = 2) -> list[tuple[Segment, float]]:
    """Candidate value segments for a label, best placement first, with a placement weight."""
    segment = hit.segment
    line = lines[segment.line]
    candidates: list[tuple[Segment, float]] = []
    for other in line[segment.position + 1:]:
        candidates.append((other, 0.95 if other.position == segment.position + 1 else 0.8))
    for below_index in range(segment.line + 1, min(len(lines), segment.line + 1 + max_below)):
        below = lines[below_index]
        if below_index == segment.line + 1 and len(line) >= 2 and len(below) == len(line) \
                and below[0].page == segment.page:
            # A row of labels over a row of values: pair them by column.
            candidates.append((below[segment.position], 0.8))
            continue
        best, best_overlap = None, 0.0
        for other in below:  # the segment most directly under the label
            if other.page != segment.page:
                continue
            reach = min(other.x1, segment.x1 + 0.15) - max(other.x0, segment.x0 - 0.02)
            if reach <= 0:
                continue
            # Rank by how much of the label it sits under; the reach only admits values set a bit right.
            overlap = max(0.0, min(other.x1, segment.x1) - max(other.x0, segment.x0)) + reach * 1e-3
            if overlap > best_overlap:
                best, best_overlap = other, overlap
        if best is not None:
            candidates.append((best, 0.75 if below_index == segment.line + 1 else 0.55))
    return candidates
