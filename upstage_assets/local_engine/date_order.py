"""Day or month first in numeric dates ("6/10/2019"), decided from the document's own cues.

Most of the world writes the day first; the United States (and documents from it) the month.
A date like 6/10/2019 cannot say which by itself, so the whole document votes:

1. its other numeric dates: "25/06/2019" can only be day-first, "06/25/2019" only month-first;
2. otherwise its country cues: a US street address (state code and ZIP), a plain dollar amount
   or USD (month-first), any other currency or wording in a day-first language (day-first).
"""

from __future__ import annotations

import re

from upstage_assets.local_engine.normalize import detect_currency

_NUMERIC_DATE = re.compile(r"(?<![\d.,/-])(\d{1,2})[/.-](\d{1,2})[/.-](?:\d{4}|\d{2})(?![\d,]|[/.-]\d)")
_US_STATES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
              "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY").split()
# "Seattle, WA 98101" / "Redmond WA 98052-6399": a state code then a ZIP code (case-sensitive).
_US_ADDRESS = re.compile(r"\b(?:" + "|".join(_US_STATES) + r")\.?\s+\d{5}(?:-\d{4})?\b")
# Words that only documents in day-first languages print (German, French, Dutch, Spanish, Italian, ...).
_DAY_FIRST_WORDS = re.compile(
    r"\b(datum|rechnung|mwst|ust|zu zahlen|betrag|summe|facture|tva|montant|date de|factuur|btw|bedrag|"
    r"fecha|factura|iva|importe|fattura|importo|totale|kwitansi|jumlah|tarikh)\b", re.IGNORECASE)


def numeric_date_votes(text: str) -> tuple[int, int]:
    """(day-first, month-first) counts of numeric dates that can be read only one way."""
    day_first = month_first = 0
    for match in _NUMERIC_DATE.finditer(text):
        first, second = int(match.group(1)), int(match.group(2))
        if first > 12 >= second >= 1:
            day_first += 1
        elif second > 12 >= first >= 1:
            month_first += 1
    return day_first, month_first


def is_day_first(text: str) -> bool:
    """Whether ambiguous numeric dates in this document's text put the day first."""
    day_votes, month_votes = numeric_date_votes(text)
    if day_votes != month_votes:
        return day_votes > month_votes
    score = 0  # > 0: month-first (US) cues outweigh day-first ones
    if _US_ADDRESS.search(text):
        score += 2
    currency = detect_currency(text)
    if currency == "USD":
        score += 1
    elif currency is not None:
        score -= 1
    if _DAY_FIRST_WORDS.search(text):
        score -= 2
    return score <= 0
