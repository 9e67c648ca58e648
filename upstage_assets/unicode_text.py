"""Text that is valid Unicode before it is stored, whatever produced it.

PDF text layers (pdfium hands out UTF-16 code units), OCR, API answers (JSON may carry
``\\ud83d`` escapes), file names and metadata can all hold lone surrogates or code points that
no UTF-8 writer accepts. One of those in one document used to raise ``UnicodeEncodeError``
deep in a JSON or Parquet write. Everything that is stored passes through here first:
surrogate pairs are joined into their characters, whatever cannot be encoded becomes
U+FFFD, and NUL (refused by PostgreSQL text) becomes U+FFFD too.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"
_HIGH = range(0xD800, 0xDC00)
_LOW = range(0xDC00, 0xE000)
_MAX_CODE_POINT = 0x10FFFF


def char_from_code_units(high: int, low: int | None) -> tuple[str, bool]:
    """One character from a UTF-16 unit and the next one: (text, whether ``low`` was used)."""
    if high in _HIGH and low is not None and low in _LOW:
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)), True
    if high in _HIGH or high in _LOW or high < 0 or high > _MAX_CODE_POINT or high == 0:
        return REPLACEMENT, False
    return chr(high), False


def valid_text(text: str) -> str:
    """``text`` with surrogate pairs joined and lone surrogates / NUL replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # utf-16 with surrogatepass keeps the units as they are, so a decode joins the pairs
        # and replaces the lone ones.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", REPLACEMENT) if "\x00" in text else text


def valid_unicode(value: Any) -> Any:
    """A JSON-like structure with every string (keys too) made valid; other values unchanged."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {valid_unicode(k): valid_unicode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [valid_unicode(v) for v in value]
    return value
