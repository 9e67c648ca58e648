"""Reading typed values out of printed text: dates, amounts, currencies.

Printed documents write the same value many ways ("05/03/2024", "March 5, 2024",
"2024년 3월 5일"; "$1,234.50", "1.234,50 EUR", "RM 9.00"). These functions find the value
inside a piece of text and return it normalised (ISO 8601 dates, decimal amounts,
ISO 4217 codes), or None.
"""

from __future__ import annotations

import re
from datetime import date

# Month names in the languages invoices commonly come in (en, fr, de, nl, es, it, pt); 3-letter
# English abbreviations come from the prefixes.
_MONTH_NAMES = [
    ("january", "janvier", "januar", "januari", "enero", "gennaio", "janeiro", "jänner"),
    ("february", "février", "fevrier", "februar", "februari", "febrero", "febbraio", "fevereiro"),
    ("march", "mars", "märz", "maerz", "maart", "marzo", "março"),
    ("april", "avril", "abril", "aprile"),
    ("may", "mai", "mei", "mayo", "maggio", "maio"),
    ("june", "juin", "juni", "junio", "giugno", "junho"),
    ("july", "juillet", "juli", "julio", "luglio", "julho"),
    ("august", "août", "aout", "augustus", "agosto"),
    ("september", "septembre", "septiembre", "settembre", "setembro", "sept"),
    ("october", "octobre", "oktober", "octubre", "ottobre", "outubro"),
    ("november", "novembre", "noviembre", "novembro"),
    ("december", "décembre", "decembre", "dezember", "diciembre", "dicembre", "dezembro"),
]
MONTHS = {name: i for i, names in enumerate(_MONTH_NAMES, start=1) for name in names}
MONTHS.update({names[0][:3]: i for i, names in enumerate(_MONTH_NAMES, start=1)})
_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))


def month_number(token: str) -> int:
    token = token.lower().rstrip(".")
    if token in MONTHS:
        return MONTHS[token]
    return MONTHS[max((k for k in MONTHS if token.startswith(k)), key=len)]


DATE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"), "ymd"),
    (re.compile(r"(\d{4})\s*년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일"), "ymd"),
    (re.compile(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})(?!\d)"), "dmy_or_mdy"),
    (re.compile(rf"(?<![a-z])(\d{{1,2}})(?:st|nd|rd|th|er)?\.?[\s\-/.]*({_MONTH_RE})[a-z]*\.?[\s\-/.,]*(\d{{4}}|\d{{2}})(?!\d)",
                re.IGNORECASE), "d_mon_y"),
    (re.compile(rf"(?<![a-z])({_MONTH_RE})[a-z]*\.?[\s\-/.]*(\d{{1,2}})(?:st|nd|rd|th)?\s*,?[\s\-/.]*(\d{{4}})(?!\d)",
                re.IGNORECASE), "mon_d_y"),
]

CURRENCY_SYMBOLS = [("US$", "USD"), ("RM", "MYR"), ("S$", "SGD"), ("A$", "AUD"), ("C$", "CAD"), ("HK$", "HKD"),
                    ("Rs.", "INR"), ("Rs", "INR"), ("₹", "INR"), ("€", "EUR"), ("£", "GBP"), ("¥", "JPY"),
                    ("₩", "KRW"), ("원", "KRW"), ("$", "USD")]
CURRENCY_CODES = ("USD", "EUR", "GBP", "MYR", "SGD", "INR", "JPY", "KRW", "CNY", "AUD", "CAD", "CHF", "HKD",
                  "IDR", "THB", "PHP", "VND", "SEK", "NOK", "DKK", "PLN", "CZK", "BRL", "MXN", "ZAR", "NZD")
_CODE_RE = re.compile(r"(?<![A-Za-z])(" + "|".join(CURRENCY_CODES) + r")(?![A-Za-z])")
# Thousands separated by commas, dots, spaces or (Swiss) apostrophes: 1,234.50 / 1.234,50 / 3'949.75.
_AMOUNT_RE = re.compile(r"(?<![\d.,'’])-?\d{1,3}(?:[,.\s'’]\d{3})+(?:[.,]\d{1,2})?(?![\d])|"
                        r"(?<![\d.,'’])-?\d+(?:[.,]\d{1,2})?(?![\d.,'’]*\d)")


def _year(text: str) -> int:
    year = int(text)
    return year + (2000 if year < 70 else 1900) if year < 100 else year


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        candidate = date(y, m, d)
    except ValueError:
        return None
    return candidate if 1900 <= candidate.year <= 2100 else None


_OCR_MONTH_ZERO = re.compile(r"(?<![A-Za-z])0(ct|ctober)(?![a-z])", re.IGNORECASE)
# A year OCR split in two ("20 19"), but not a two-digit year followed by a time ("16.05.20 09:47").
_SPACED_YEAR = re.compile(r"(?<=[\s,./-])(19\d|20\d) (\d)(?!\d|[:.h]\d)|(?<=[\s,./-])(19|20) (\d{2})(?!\d|[:.h]\d)")
_SPACED_DAY = re.compile(rf"(?<!\d)(\d) (\d)(?=\s*(?:{_MONTH_RE}|0ct))", re.IGNORECASE)


def find_dates(text: str, *, day_first: bool = True) -> list[tuple[int, date]]:
    """Every date in the text with its character offset, earliest first.

    Three OCR slips are mended first: a zero read for the O of October, a space inside the day
    or inside the year.
    """
    text = _SPACED_DAY.sub(r"\1\2", _OCR_MONTH_ZERO.sub(r"O\1", text))
    text = _SPACED_YEAR.sub(lambda m: "".join(g for g in m.groups() if g), text)
    found: list[tuple[int, date]] = []
    taken: list[tuple[int, int]] = []
    for pattern, kind in DATE_PATTERNS:
        for match in pattern.finditer(text):
            if any(s < match.end() and match.start() < e for s, e in taken):
                continue
            a, b, c = match.groups()
            value: date | None = None
            if kind == "ymd":
                value = _safe_date(int(a), int(b), int(c))
            elif kind == "dmy_or_mdy":
                first, second, year = int(a), int(b), _year(c)
                if first > 12:
                    value = _safe_date(year, second, first)
                elif second > 12:
                    value = _safe_date(year, first, second)
                else:  # dotted numeric dates are day-first wherever they are written (the US uses slashes)
                    dotted = "." in match.group(0)
                    value = (_safe_date(year, second, first) if day_first or dotted
                             else _safe_date(year, first, second))
            elif kind == "d_mon_y":
                value = _safe_date(_year(c), month_number(b), int(a))
            elif kind == "mon_d_y":
                value = _safe_date(int(c), month_number(a), int(b))
            if value is not None:
                found.append((match.start(), value))
                taken.append((match.start(), match.end()))
    return sorted(found)


def parse_date(text: str, *, day_first: bool = True) -> str | None:
    dates = find_dates(text, day_first=day_first)
    return dates[0][1].isoformat() if dates else None


def amount_from_token(token: str) -> float | None:
    """'1,234.50' -> 1234.5; '1.234,50' -> 1234.5; '1 234' -> 1234; "3'949.75" -> 3949.75."""
    token = token.strip().replace(" ", "").replace("'", "").replace("’", "")
    negative = token.startswith("-")
    token = token.lstrip("-")
    if not token or not token[0].isdigit():
        return None
    if "," in token and "." in token:
        token = token.replace(",", "") if token.rfind(".") > token.rfind(",") else token.replace(".", "").replace(",", ".")
    elif "," in token:
        head, _, tail = token.rpartition(",")
        token = f"{head.replace(',', '')}.{tail}" if len(tail) in (1, 2) else token.replace(",", "")
    elif token.count(".") > 1:
        head, _, tail = token.rpartition(".")
        token = f"{head.replace('.', '')}.{tail}" if len(tail) in (1, 2) else token.replace(".", "")
    try:
        value = float(token)
    except ValueError:
        return None
    return -value if negative else value


_SPACED_DECIMAL = re.compile(r"(\d)\s+([.,])\s*(\d{2})(?!\d)|(\d)([.,])\s+(\d{2})(?!\d)")
_DASH_DECIMAL = re.compile(r"(?<![\d-])(\d{1,5}) ?- (\d{2})(?![\d-])")  # OCR reads "14.10" as "14- 10"
_RATES = re.compile(r"@\s*\d+(?:[.,]\d+)?\s*%?|\d+(?:[.,]\d+)?\s*%")  # tax rates are not amounts


def find_amounts(text: str) -> list[tuple[int, float, bool]]:
    """Amounts in the text: (offset, value, has_decimals). Dates and long digit runs are skipped.

    OCR sometimes puts spaces around the decimal point ("129 . 44"); those are closed first.
    """
    text = _SPACED_DECIMAL.sub(lambda m: "".join(g for g in m.groups() if g), text)
    text = _RATES.sub(lambda m: " " * len(m.group(0)), _DASH_DECIMAL.sub(r"\1.\2", text))
    date_spans = [(m.start(), m.end()) for p, _ in DATE_PATTERNS for m in p.finditer(text)]
    amounts = []
    for match in _AMOUNT_RE.finditer(text):
        if any(s <= match.start() < e for s, e in date_spans):
            continue
        token = match.group(0)
        digits = re.sub(r"\D", "", token)
        if len(digits) > 12:
            continue
        value = amount_from_token(token)
        if value is not None:
            amounts.append((match.start(), value, bool(re.search(r"[.,]\d{1,2}$", token))))
    return amounts


def parse_amount(text: str) -> float | None:
    """The last amount in the text, preferring ones written with decimals (a price, not a count)."""
    amounts = find_amounts(text)
    if not amounts:
        return None
    with_decimals = [a for a in amounts if a[2]]
    return (with_decimals or amounts)[-1][1]


def detect_currency(text: str) -> str | None:
    code = _CODE_RE.search(text)
    if code:
        return code.group(1)
    for symbol, iso in CURRENCY_SYMBOLS:
        if symbol in ("RM", "Rs", "원"):
            if re.search(rf"(?<![A-Za-z]){re.escape(symbol)}(?![A-Za-z])\s*\.?\s*\d", text) or \
                    re.search(rf"\d\s*{re.escape(symbol)}(?![A-Za-z])", text):
                return iso
        elif symbol in text:
            return iso
    return None
