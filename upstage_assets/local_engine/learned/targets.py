"""Match expected field values back to the characters of a page's lines (training targets).

A label says *what* the value is ("27, JALAN DEDAP 13, TAMAN JOHOR JAYA"), not *where*; the
model learns where. Values are found by kind:

- dates: every date token on the page that reads as the same calendar day;
- amounts: every amount on the page equal to the value (to the cent);
- text: the closest approximate occurrence of the value in the page's text, compared with
  case, spaces and punctuation folded (so a value printed over three lines, or with OCR
  slips, is still found), accepted when the edit distance is small against its length.

The result marks, per line, the character span(s) that hold each field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from upstage_assets.local_engine.normalize import amount_from_token, parse_date
from upstage_assets.validation import CoercionError, coerce_date, coerce_number

# Text values farther than this share of their length (edit distance) are not on the page.
MAX_TEXT_DISTANCE = 0.2
# Date-shaped tokens (numeric, "12 Jan 2019", "Jan 12, 2019"); found at every start position,
# since a greedy left-to-right scan lets "REG #19- 18/01/2018" hide the date behind "19- 18/01".
DATE_SHAPES = (r"\d{1,4}\s?[./\-]\s?(?:\d{1,2}|[A-Za-z]{3,9})\s?[./\-]\s?\d{2,4}(?!\d)",
               r"\d{1,2}\s?[A-Za-z]{3,9}\.?,?\s?\d{2,4}(?!\d)", r"[A-Za-z]{3,9}\.?\s?\d{1,2},?\s?\d{2,4}(?!\d)")
DATE_TOKEN = re.compile("|".join(rf"(?<![\dA-Za-z])(?=({shape}))" for shape in DATE_SHAPES))


@dataclass(frozen=True)
class Span:
    line: int
    start: int
    end: int  # exclusive


def field_kind(name: str, prop: dict[str, Any]) -> str:
    """``date``, ``amount`` or ``text``: how a value is found on the page and read back."""
    from upstage_assets.operations.evaluation import field_kind as compare_kind

    kind = compare_kind(name, prop)
    if kind == "number" or name.lower() in ("total", "amount", "subtotal", "tax", "total_amount", "grand_total"):
        return "amount"
    return "date" if kind == "date" else "text"


def date_tokens(text: str) -> list[tuple[int, int, str]]:
    """(start, end, token) of every date-shaped token, overlapping ones included."""
    found = set()
    for match in DATE_TOKEN.finditer(text):
        for group in match.groups():
            if group:
                found.add((match.start(), match.start() + len(group), group))
    return sorted(found)


def date_spans(lines: list[str], value: Any) -> list[Span]:
    try:
        wanted = coerce_date(value)
    except CoercionError:
        wanted = None
    if wanted is None:
        parsed = parse_date(str(value))
        if parsed is None:
            return []
        wanted = coerce_date(parsed)
    spans = []
    for index, text in enumerate(lines):
        for start, end, token in date_tokens(text):
            read = parse_date(token)
            try:
                if read is not None and coerce_date(read) == wanted:
                    spans.append(Span(index, start, end))
            except CoercionError:
                continue
    return spans


# Number-shaped tokens; OCR's spaces around a decimal point ("6 .36", "129. 44") are closed, and
# its dash for a point ("14- 10") read as one, as the rules' amount reader does.
AMOUNT_TOKEN = re.compile(r"(?<![\d.,'])-?\d(?:[\d,.']*\d)?(?:\s?[.,]\s?\d{2}(?!\d)| ?- \d{2}(?![\d-]))?")


def amount_tokens(text: str) -> list[tuple[int, int, float, bool]]:
    """(start, end, value, has_decimals) of every number-shaped token."""
    found = []
    for match in AMOUNT_TOKEN.finditer(text):
        token = match.group(0)
        token = re.sub(r"\s", "", re.sub(r"(\d) ?- (\d{2})$", r"\1.\2", token)).replace("'", "")
        value = amount_from_token(token)
        if value is not None and len(re.sub(r"\D", "", token)) <= 12:
            found.append((match.start(), match.end(), value, bool(re.search(r"[.,]\d{1,2}$", token))))
    return found


def amount_spans(lines: list[str], value: Any) -> list[Span]:
    """Tokens equal to the value; written with decimals when any is (a bare '10' of a date is not 10.00)."""
    try:
        wanted = coerce_number(value)
    except CoercionError:
        return []
    hits = [(index, start, end, decimals) for index, text in enumerate(lines)
            for start, end, amount, decimals in amount_tokens(text) if abs(amount - wanted) < 0.005]
    if any(decimals for *_, decimals in hits):
        hits = [hit for hit in hits if hit[3]]
    return [Span(index, start, end) for index, start, end, _ in hits]


def _folded(lines: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Alphanumerics of all lines, casefolded, with each folded char's (line, column)."""
    chars, where = [], []
    for index, text in enumerate(lines):
        for column, ch in enumerate(text):
            if ch.isalnum():
                chars.append(ch.casefold()[0])
                where.append((index, column))
    return "".join(chars), where


def approximate_match(pattern: str, text: str) -> tuple[int, int, int]:
    """(distance, start, end) of the substring of ``text`` with the least edit distance to ``pattern``.

    Semi-global alignment, one numpy row per pattern character; the within-row insertion
    recurrence is a running minimum (D[j] = j + cummin(E[k] - k)).
    """
    n = len(text)
    columns = np.arange(n + 1)
    previous = np.zeros(n + 1, dtype=np.int64)  # the match may start anywhere
    starts = columns.copy()
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    for ch in pattern:
        cost = (codes != ord(ch)).astype(np.int64)
        diagonal = previous[:-1] + cost
        up = previous[1:] + 1
        best = np.minimum(diagonal, up)
        row = np.empty(n + 1, dtype=np.int64)
        row[0] = previous[0] + 1
        row[1:] = best
        row_starts = np.empty(n + 1, dtype=np.int64)
        row_starts[0] = 0
        row_starts[1:] = np.where(diagonal <= up, starts[:-1], starts[1:])
        # insertions (a text char skipped inside the match): D[j] = min_k D[k] + (j - k)
        shifted = row - columns
        running = np.minimum.accumulate(shifted)
        take = running < shifted
        arg = np.maximum.accumulate(np.where(shifted == running, columns, 0))
        row = np.where(take, running + columns, row)
        row_starts = np.where(take, row_starts[arg], row_starts)
        previous, starts = row, row_starts
    end = int(np.argmin(previous))
    return int(previous[end]), int(starts[end]), end


def text_spans(lines: list[str], value: Any) -> list[Span]:
    pattern = "".join(ch.casefold()[0] for ch in str(value) if ch.isalnum())
    folded, where = _folded(lines)
    if not pattern or not folded:
        return []
    distance, start, end = approximate_match(pattern, folded)
    if end <= start or distance > MAX_TEXT_DISTANCE * len(pattern):
        return []
    first, last = where[start], where[end - 1]
    spans = []
    for index in range(first[0], last[0] + 1):
        begin = first[1] if index == first[0] else 0
        finish = last[1] + 1 if index == last[0] else len(lines[index].rstrip())
        begin = min(begin, finish)
        if finish > begin:
            spans.append(Span(index, begin, finish))
    return spans


def value_spans(lines: list[str], kind: str, value: Any) -> list[Span]:
    """Where a value of this kind (``field_kind``) sits on the page (may be empty: not found)."""
    if value in (None, "", []):
        return []
    if kind == "date":
        return date_spans(lines, value)
    if kind == "amount":
        return amount_spans(lines, value)
    return text_spans(lines, value)
