"""What a piece of printed text is when it is not a field's value.

Titles ("TAX INVOICE"), section headings ("Summary"), page numbering ("Page 1 / 1"), form
captions printed without a colon ("TRADE NAME") and the rows of a tax breakdown all sit where
values sit (top of the page, beside labels). Extraction asks here before taking one.
"""

from __future__ import annotations

import re

from upstage_assets.local_engine.field_matching import Segment, normalise_label
from upstage_assets.local_engine.normalize import find_amounts

TITLE_WORDS = {"invoice", "tax invoice", "receipt", "official receipt", "bill", "statement", "cash sale",
               "cash bill", "simplified tax invoice", "sales receipt", "quotation", "영수증", "invoice receipt",
               "cash receipt", "payment receipt", "sales invoice", "commercial invoice", "proforma invoice",
               "credit note", "debit note", "purchase order", "계산서", "거래명세서", "factuur", "facture",
               "rechnung", "factura", "fattura", "nota", "kopie factuur", "copy", "original", "duplicate",
               "invoice summary"}
# Headings of a document's sections ("Summary", "Payment details"): never a name or an address.
SECTION_WORDS = {"summary", "details", "description", "notes", "note", "items", "item", "payment", "overview",
                 "remarks", "terms", "payment details", "order summary", "account summary", "billing summary",
                 "invoice details", "order details", "qty", "quantity", "price", "amount", "total", "subtotal"}
# "Page 1 / 1", "Seite 2 von 3": page numbering, not text of the document.
PAGE_MARKER = re.compile(r"^\s*(?:(?:page|seite|pagina|página|pag\.?|p\.)\s*\d+(?:\s*(?:/|of|von|de|sur|di|van)\s*\d+)?"
                         r"|\d{1,3}\s+(?:/|of|von|sur|van)\s+\d{1,3})\s*$", re.IGNORECASE)
# A form's field caption printed without a colon ("TRADE NAME", "Customer No"): the label, not its value.
FIELD_CAPTION = re.compile(r"^(?:[^\W\d_]+\s+){0,3}(?:name|address|number|no|nr|date|phone|telephone|e-?mail|"
                           r"signature)\.?$", re.IGNORECASE)


def is_not_a_value(text: str) -> bool:
    """Page numbering, section headings and field captions are printed text but never a field's value."""
    norm = normalise_label(text)
    return bool(PAGE_MARKER.match(text) or norm in SECTION_WORDS or norm in TITLE_WORDS
                or FIELD_CAPTION.match(text.strip()))


TAX_SUMMARY_WORDS = re.compile(r"\d\s*%|\b(mwst|ust|vat|tva|btw|iva|gst|sst|netto|brutto|steuer|tax|net|gross)\b",
                               re.IGNORECASE)


def in_tax_summary(line: list[Segment]) -> bool:
    """A line of a tax breakdown: tax words or rates beside two or more amounts, or a header of them."""
    text = " ".join(segment.text for segment in line)
    if not TAX_SUMMARY_WORDS.search(text):
        return False
    amounts = [a for a in find_amounts(text) if a[2]]
    words = TAX_SUMMARY_WORDS.findall(text)
    return len(amounts) >= 2 or (not amounts and len(words) >= 2)
