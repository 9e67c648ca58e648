"""Normalised comparison of extracted values with expected ones (tests, demo, accuracy)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from upstage_assets.validation import CoercionError, coerce_date, coerce_number


def _text(value: Any) -> str:
    """Case, whitespace and punctuation folded: 'NO.53, JALAN SAGU' == 'No 53 Jalan Sagu'."""
    return re.sub(r"[\W_]+", " ", str(value)).strip().casefold()


def text_similarity(actual: Any, expected: Any) -> float:
    """Character similarity of the folded texts (0..1), for fields where OCR slips are expected."""
    from difflib import SequenceMatcher

    return SequenceMatcher(None, _text(actual), _text(expected)).ratio()


def values_match(actual: Any, expected: Any) -> bool:
    """Dates compared as dates, numbers as numbers (to the cent), text with case and spaces folded."""
    if expected is None:
        return actual in (None, "")
    if actual is None:
        return False
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        try:
            return abs(coerce_number(actual) - float(expected)) < 0.005
        except CoercionError:
            return False
    if isinstance(actual, date | datetime) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(expected)):
        try:
            return coerce_date(actual if not isinstance(actual, datetime) else actual.date()) == coerce_date(expected)
        except CoercionError:
            return False
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        try:
            return abs(float(actual) - coerce_number(expected)) < 0.005
        except CoercionError:
            return False
    return _text(actual) == _text(expected)


def field_kind(name: str, prop: dict[str, Any] | None = None) -> str:
    """How to compare a field: ``date``, ``number`` or ``text``, from its schema type and name."""
    prop = prop or {}
    lowered = name.lower()
    if prop.get("format") in ("date", "date-time") or "date" in lowered:
        return "date"
    if prop.get("type") in ("number", "integer") or lowered in ("total", "amount", "subtotal", "tax"):
        return "number"
    return "text"


def field_matches(name: str, actual: Any, expected: Any, prop: dict[str, Any] | None = None) -> bool:
    """Compare after normalising both sides the same way: dates to ISO, amounts to decimals."""
    if expected in (None, ""):
        return actual in (None, "")
    if actual in (None, ""):
        return False
    kind = field_kind(name, prop)
    try:
        if kind == "date":
            return coerce_date(actual) == coerce_date(expected)
        if kind == "number":
            return abs(coerce_number(actual) - coerce_number(expected)) < 0.005
    except CoercionError:
        return False
    return _text(actual) == _text(expected)


def character_error_rate(predicted: str, reference: str) -> float:
    """Levenshtein distance over characters (whitespace removed) divided by the reference length."""
    a = re.sub(r"\s+", "", predicted)
    b = re.sub(r"\s+", "", reference)
    if not b:
        return 0.0 if not a else 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
        previous = current
    return previous[-1] / len(b)
