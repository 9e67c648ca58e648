"""Normalised comparison of extracted values with expected ones (tests, demo, accuracy)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from upstage_assets.validation import CoercionError, coerce_date, coerce_number


def _text(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value)).strip().casefold()


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
