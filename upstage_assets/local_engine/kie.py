"""Schema-driven key information extraction over a Document Parse response.

Works from the schema alone: each property's name, type and description become label hints
(plus a small table of common synonyms), the value is found next to the label by geometry
(``field_matching``) and read by type (``normalize``). Fields that documents rarely label
(the issuing company, its address) fall back to layout: the prominent lines at the top of
the first page. Confidence combines how well the label matched, where the value sat and
whether it read cleanly as its type, so low scores mark the values worth reviewing.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from upstage_assets.local_engine.date_order import is_day_first
from upstage_assets.local_engine.field_matching import (
    Segment,
    document_lines,
    find_labels,
    neighbours,
    normalise_label,
)
from upstage_assets.local_engine.learned.extract import learned_fields
from upstage_assets.local_engine.line_items import extract_line_items
from upstage_assets.local_engine.normalize import detect_currency, find_amounts, parse_amount, parse_date
from upstage_assets.local_engine.text_roles import TITLE_WORDS, in_tax_summary, is_not_a_value

LOCAL_IE_MODEL = "information-extract-local"

# "Invoice" in the languages invoices come in, and the signs for "number" printed after it
# ("FACTURE N°", "Rechnung #", "Factuur nr."): every pairing labels an invoice number.
INVOICE_WORDS = ("invoice", "facture", "rechnung", "factuur", "factura", "fattura", "fatura", "faktura")
NUMBER_SIGNS = ("no", "nr", "n", "#", "number", "nummer", "numéro", "número", "numero")
# Common ways documents label a concept; matched by property-name tokens.
SYNONYMS: dict[str, list[str]] = {
    "invoice_number": ["invoice no", "invoice number", "invoice #", "invoice id", "inv no",
                       *[f"{word} {sign}" for word in INVOICE_WORDS for sign in NUMBER_SIGNS], "invoice",
                       "factuurnummer", "numéro de facture", "n de facture", "rechnungsnummer", "rechnungsnr",
                       "número de factura", "numero fattura", "송장번호", "bill no", "reference no", "ref no",
                       "document no", "no"],
    "receipt_number": ["receipt no", "receipt number", "receipt #", "bill no", "invoice no", "doc no",
                       "document no", "transaction no", "trans no", "order no", "check no", "slip no",
                       "영수증번호", "승인번호", "no"],
    "date": ["invoice date", "date of issue", "issue date", "receipt date", "transaction date", "bill date",
             "factuurdatum", "factuur datum", "date de facture", "date de facturation", "rechnungsdatum",
             "fecha de factura", "data fattura", "date", "dated", "datum", "fecha", "data", "날짜", "일자",
             "거래일시", "거래일자"],
    "due_date": ["due date", "payment due", "vervaldatum", "date limite de paiement", "échéance",
                 "fälligkeitsdatum", "fällig am", "fecha de vencimiento", "scadenza", "due"],
    # What is to be paid comes first: it outranks a "total" printed in a tax summary or a subtotal.
    "total": ["grand total", "total amount due", "amount due", "total due", "balance due", "total payable",
              "amount payable", "zu zahlen", "net à payer", "somme à payer", "te betalen", "total a pagar",
              "importe a pagar", "da pagare", "받을금액", "결제금액", "nett total", "net total", "total amount",
              "total incl", "rounded total", "total ttc", "montant ttc", "montant total", "totaal",
              "totaalbedrag", "gesamtbetrag", "rechnungsbetrag", "endbetrag", "importe total", "totale", "total",
              "amount", "합계", "총액", "summe"],
    "subtotal": ["subtotal", "sub total"],
    "tax": ["tax", "gst", "vat", "sst", "tva", "btw", "mwst", "iva", "부가세"],
    "bill_to": ["bill to", "billed to", "sold to", "invoice to", "customer", "client", "factuuradres",
                "rechnungsadresse", "facturer à", "adresse de facturation", "cliente", "kunde"],
    "issuer": ["from", "seller", "vendor", "supplier", "issued by", "verkäufer", "vendeur", "leverancier",
               "trade name", "company name", "business name", "seller name", "vendor name", "supplier name"],
    "company": ["company", "store", "merchant", "trade name", "company name", "business name", "store name",
                "상호", "가맹점명"],
    "address": ["address", "addr", "주소", "adresse", "adres"],
}
ALIASES = {"amount": "total", "grand_total": "total", "total_amount": "total", "amount_due": "total",
           "vendor": "issuer", "seller": "issuer", "supplier": "issuer", "store": "company",
           "merchant": "company", "store_name": "company", "customer": "bill_to", "buyer": "bill_to",
           "invoice_date": "date", "issue_date": "date", "receipt_date": "date", "invoice_no": "invoice_number",
           "invoice_id": "invoice_number", "receipt_no": "receipt_number"}
ORGANISATION_FIELDS = {"company", "issuer"}
EXCLUDED_TOTAL_LABELS = ["sub total", "subtotal", "total qty", "total quantity", "total items", "total item",
                         "total tax", "total discount", "total gst", "total excl", "total savings", "total ht",
                         "total hors", "exclusief", "subtotaal", "sous total", "zwischensumme", "total sst",
                         "total vat", "total before", "total saving", "total disc", "total gross", "total net weight",
                         "total tender", "total paid", "total received", "amount paid", "amount tendered",
                         "amount received", "paid amount", "tender", "cash", "change"]
ORGANISATION_MARKERS = re.compile(
    r"\b(sdn\.? ?bhd|bhd|ltd|llc|inc|gmbh|pte|corp|co\.|s\.a\.|b\.v\.|llp|plc|pty|ag|s\.r\.l|limited|"
    r"enterprise|trading|company)(?!\w)|주식회사|\(주\)", re.IGNORECASE)
LABELLED_LINE = re.compile(r"^[^:]{1,30}:\s*\S")
ADDRESS_STOP = re.compile(r"\b(tel|phone|fax|gst|reg|email|e-mail|www|http|invoice|receipt|date|no\.?:|cashier)\b",
                          re.IGNORECASE)
ADDRESS_WORDS = re.compile(r"\d|\b(street|st|road|rd|jalan|jln|avenue|ave|lane|taman|floor|suite|blvd|drive|"
                           r"lot|block|city|no\.)\b|[시구동로길]", re.IGNORECASE)


def concept_of(name: str) -> str:
    lowered = name.lower()
    if lowered in SYNONYMS:
        return lowered
    if lowered in ALIASES:
        return ALIASES[lowered]
    if "date" in lowered.split("_"):
        return "due_date" if "due" in lowered else "date"
    if any(t in lowered for t in ("total", "amount")):
        return "total"
    return lowered


def label_hints(name: str, prop: dict[str, Any]) -> list[str]:
    """Synonyms, the name itself, and phrases the description lists in parentheses."""
    hints = list(SYNONYMS.get(concept_of(name), []))
    hints.append(name.replace("_", " "))
    description = prop.get("description") or ""
    for group in re.findall(r"\(([^)]*)\)", description):
        hints.extend(p.strip() for p in re.split(r"[,;/]| or ", group) if 2 < len(p.strip()) < 30)
    return [h for h in dict.fromkeys(hints) if h]


def is_date_field(name: str, prop: dict[str, Any]) -> bool:
    return prop.get("format") in ("date", "date-time") or "date" in name.lower()


def is_amount_field(name: str, prop: dict[str, Any]) -> bool:
    return prop.get("type") in ("number", "integer") or concept_of(name) in ("total", "subtotal", "tax")


def _found(value: Any, confidence: float, segment: Segment | None) -> dict[str, Any]:
    return {"value": value, "confidence": round(max(0.0, min(1.0, confidence)), 3),
            "page": segment.page if segment else None, "coordinates": segment.coordinates if segment else None}


def _missing() -> dict[str, Any]:
    return {"value": None, "confidence": 0.0, "page": None, "coordinates": None}


def _read(name: str, prop: dict[str, Any], text: str, day_first: bool = True) -> Any:
    """Read a value of the field's type from text, or None."""
    if is_date_field(name, prop):
        return parse_date(text, day_first=day_first)
    if is_amount_field(name, prop):
        value = parse_amount(text)
        if value is not None and prop.get("type") == "integer":
            return int(value) if value == int(value) else None
        return value
    if concept_of(name) == "currency":
        return detect_currency(text)
    cleaned = text.strip(" :#-°º№")
    if prop.get("type") == "string" and not is_date_field(name, prop) and is_not_a_value(cleaned):
        return None
    if concept_of(name) in ORGANISATION_FIELDS and _looks_like_id_or_address(cleaned):
        return None  # "Company Reg No. (123-T)": a registration number, not the company's name
    if concept_of(name) in ("invoice_number", "receipt_number") or name.lower().endswith(("_number", "_no", "_id")):
        token = cleaned.split()[0] if cleaned.split() else ""
        if not any(ch.isdigit() for ch in token) or parse_date(token) == parse_date(cleaned) and parse_date(token):
            return None  # identifiers carry digits and are not dates
        return token
    return cleaned or None


def _labelled_value(lines: list[list[Segment]], name: str, prop: dict[str, Any],
                    day_first: bool = True) -> dict[str, Any] | None:
    hints = label_hints(name, prop)
    exclude = EXCLUDED_TOTAL_LABELS if concept_of(name) == "total" else []
    if concept_of(name) == "date":
        exclude = ["due date", "due", *exclude]
    best: tuple[float, int, Any, Segment] | None = None
    for hit in find_labels(lines, hints, exclude):
        rank = next((i for i, h in enumerate(hints) if normalise_label(hit.segment.text).startswith(normalise_label(h))),
                    len(hints))
        priority = 1.0 - min(0.4, 0.03 * rank)
        if concept_of(name) == "total" and in_tax_summary(lines[hit.segment.line]):
            priority *= 0.5  # "Total" over a VAT breakdown, or its gross column: not what is to be paid
        options: list[tuple[str, float, Segment]] = []
        if hit.remainder:
            options.append((hit.remainder, 1.0, hit.segment))
        options += [(seg.text, weight, seg) for seg, weight in neighbours(lines, hit)]
        blocked = False  # set once another label sits to the right on the label's own line
        for text, placement, segment in options:
            if blocked and segment.line == hit.segment.line and segment is not hit.segment:
                continue
            if prop.get("type") == "string" and not is_date_field(name, prop) and \
                    (text.rstrip().endswith(":") or LABELLED_LINE.match(text)):
                blocked = blocked or segment.line == hit.segment.line  # what follows is that label's
                continue  # another label, not this label's value
            value = _read(name, prop, text, day_first)
            if value in (None, ""):
                continue
            quality = 1.0
            if isinstance(value, str) and concept_of(name).endswith("_number") and len(text.split()) > 2:
                quality = 0.6  # an identifier taken from the start of a longer phrase
            if is_amount_field(name, prop) and not re.search(r"\d[.,]\d{1,2}(?!\d)", text) and \
                    detect_currency(text) is None:
                quality *= 0.3  # a bare integer next to an amount label is more often a count or a year
            if is_amount_field(name, prop) and segment is not hit.segment and OTHER_LABEL.match(text) and \
                    detect_currency(text.split()[0]) is None:
                quality *= 0.3  # "Rounding 0.00" beside "Total Sales": another label's amount
            if prop.get("type") == "string" and not is_date_field(name, prop) and parse_date(text) and \
                    len(re.sub(r"[\d\W]", "", text)) <= 12:
                continue  # a date is not a name or an identifier
            score = hit.strength * placement * priority * quality
            order = segment.line if concept_of(name) == "total" else -segment.line  # totals: the last wins ties
            if best is None or (score, order) > (best[0], best[1]):
                best = (score, order, value, segment)
    if best is None:
        return None
    return _found(best[2], 0.35 + 0.6 * best[0], best[3])


# A segment that starts with a word of its own before its number carries another label.
OTHER_LABEL = re.compile(r"^\s*[^\W\d_]{3,}")


def _top_lines(lines: list[list[Segment]], limit: int = 8) -> list[tuple[int, str, Segment]]:
    top = []
    for index, line in enumerate(lines):
        if not line or line[0].page != 1:
            continue
        text = " ".join(s.text for s in line).strip()
        top.append((index, text, line[0]))
        if len(top) >= limit:
            break
    return top


def _strip_titles(text: str) -> str:
    for title in sorted(TITLE_WORDS, key=len, reverse=True):
        text = re.sub(rf"^\s*{re.escape(title)}\b\s*|\s*\b{re.escape(title)}\s*$", "", text,
                      flags=re.IGNORECASE).strip()
    return text


def _organisation(lines: list[list[Segment]]) -> tuple[dict[str, Any], int | None]:
    """The issuer: a prominent line at the top of page 1 that is not a title, label, date or address."""
    candidates: list[tuple[float, int, str, Segment]] = []
    previous = ""
    for index, text, segment in _top_lines(lines):
        if any(decimals for _, _, decimals in find_amounts(text)):
            break  # prices: the items and totals start here; the issuer is printed above them
        after_label, previous = previous.rstrip().endswith(":"), text
        if after_label:
            continue  # the value of a label line above ("Bill To:"), not the issuer
        raw = segment.text if normalise_label(segment.text) not in TITLE_WORDS else text
        name = _strip_titles(raw)
        if name != raw.strip() and len(name.split()) < 2 and not ORGANISATION_MARKERS.search(name):
            continue  # what is left of a title line ("CASH" of "CASH RECEIPT")
        if not name or is_not_a_value(name):
            continue
        if name.endswith(":") or not re.search(r"[A-Za-z가-힣]{2,}", name) or parse_date(name) or \
                LABELLED_LINE.match(name) or ADDRESS_STOP.search(name) and not ORGANISATION_MARKERS.search(name):
            continue
        score = 0.55 + (0.3 if ORGANISATION_MARKERS.search(name) else 0.0) + \
            (0.1 if segment.category == "heading1" else 0.0) - 0.1 * len(candidates)
        candidates.append((score, index, name, segment))
    # A legal-form name ("... B.V.", "... GmbH") anywhere on page 1 is strong evidence even when a
    # customer block or a slogan is printed above it; names that are a label's value are the customer's.
    claimed = _label_values(lines)
    for index, line in enumerate(lines):
        if not line or line[0].page != 1:
            continue
        for segment in line:
            if segment in claimed:
                continue
            name = _cut_address(segment.text)
            if ORGANISATION_MARKERS.search(name) and not LABELLED_LINE.match(name) and len(name) <= 60:
                candidates.append((0.72 - 0.004 * index, index, name, segment))
    if not candidates:
        return _missing(), None
    score, index, name, segment = max(candidates, key=lambda c: (c[0], -c[1]))
    return _found(_organisation_name(name), score, segment), index


TRAILING_REGISTRATION = re.compile(r"\s*\((?=[^)]*\d{4,})[\w\s.\-/]{4,24}\)?\s*$")


def _organisation_name(text: str) -> str:
    """'AEON CO. (M) BHD (126926-H)' -> 'AEON CO. (M) BHD': a trailing bracketed id is a registration number."""
    return TRAILING_REGISTRATION.sub("", _cut_address(text)).strip() or text.strip()


REGISTRATION_WORDS = re.compile(r"\b(reg|registration|gst|sst|vat|tax id|co\.?\s*n[o0c]|company\s*no|roc|brn)\b|#",
                                re.IGNORECASE)


def _looks_like_id_or_address(name: str) -> bool:
    """Registration numbers and street lines sit near the top too; they are not the name."""
    letters = sum(ch.isalpha() for ch in name)
    digits = sum(ch.isdigit() for ch in name)
    if REGISTRATION_WORDS.search(name) and not ORGANISATION_MARKERS.search(name.split("(")[0]):
        return True
    if digits >= max(4, letters):
        return True
    return bool(not ORGANISATION_MARKERS.search(name) and re.search(r"\d", name) and "," in name
                and ADDRESS_WORDS.search(name))


def _label_values(lines: list[list[Segment]]) -> set[Segment]:
    """Segments that are the value of a label ("Bill To:" then the name, to its right or below)."""
    claimed: set[Segment] = set()
    for index, line in enumerate(lines):
        for position, segment in enumerate(line):
            text = segment.text.rstrip()
            if LABELLED_LINE.match(text):
                claimed.add(segment)
            if not text.endswith(":"):
                continue
            if position + 1 < len(line):
                claimed.add(line[position + 1])
            for below in lines[index + 1: index + 3]:
                claimed.update(s for s in below if s.x0 < segment.x1 + 0.1 and s.x1 > segment.x0 - 0.02)
    return claimed


def _cut_address(name: str) -> str:
    """'ACME AG - Uferweg 40 - 63571 Town' -> 'ACME AG': letterheads run the address on."""
    parts = re.split(r"\s+[-|·•]\s+|\s*,\s+(?=\d)", name)
    return parts[0].strip() if len(parts) > 1 and ADDRESS_WORDS.search(" ".join(parts[1:])) else name.strip()


REGISTRATION_ID = re.compile(
    r"^\s*(?:\(?\s*(?:co\.?\s*(?:reg\.?|no\.?)|company\s*no|gst\s*(?:id|no|reg)|reg\.?\s*no)[^,)]*\)?|"
    r"\(?\s*\d{5,}[-\s]?[a-z]\s*\)?)\s*[,.]?\s*", re.IGNORECASE)


def _address(lines: list[list[Segment]], after: int | None) -> dict[str, Any]:
    """The lines after the issuer's name that read like an address (registration ids dropped)."""
    if after is None:
        return _missing()
    parts: list[str] = []
    first: Segment | None = None
    for line in lines[after + 1: after + 8]:
        text = " ".join(s.text for s in line).strip()
        while True:
            stripped = REGISTRATION_ID.sub("", text, count=1).strip()
            if stripped == text:
                break
            text = stripped
        if not text:
            continue
        continues = bool(parts) and parts[-1].rstrip().endswith((",", "-", "&"))
        if ADDRESS_STOP.search(text) or parse_date(text) or (parts and not continues and not ADDRESS_WORDS.search(text)):
            break
        if not parts and not ADDRESS_WORDS.search(text):
            continue  # a slogan between the name and the address
        parts.append(text)
        first = first or line[0]
    if not parts:
        return _missing()
    joined = parts[0]
    for part in parts[1:]:
        joined += (" " if joined.rstrip().endswith((",", ".", "-")) else ", ") + part
    return _found(joined, 0.55 + 0.05 * min(len(parts), 3), first)


def _unlabelled(lines: list[list[Segment]], name: str, prop: dict[str, Any], full_text: str,
                day_first: bool = True) -> dict[str, Any]:
    """The type-driven fallback when no label matched."""
    if is_date_field(name, prop) and concept_of(name) == "date":
        for line in lines:
            for segment in line:
                value = parse_date(segment.text, day_first=day_first)
                if value:
                    return _found(value, 0.45, segment)
    if concept_of(name) == "total":
        best: tuple[float, Segment] | None = None
        for line in lines:
            for segment in line:
                for _, amount, decimals in find_amounts(segment.text):
                    if decimals and (best is None or amount > best[0]):
                        best = (amount, segment)
        if best:
            return _found(best[0], 0.25, best[1])
    if concept_of(name) == "currency":
        code = detect_currency(full_text)
        if code:
            return _found(code, 0.6, None)
    return _missing()


def object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The object schema itself, also when handed the response_format or its json_schema wrapper
    (callers mix the three levels up easily; a silent empty result would hide that)."""
    if "properties" not in schema and isinstance(schema.get("json_schema"), dict):
        schema = schema["json_schema"]
    if "properties" not in schema and isinstance(schema.get("schema"), dict):
        schema = schema["schema"]
    return schema


def extract_fields(parse_response: dict[str, Any], json_schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Map each schema property to {"value", "confidence" (0..1), "page", "coordinates", "source"}:
    the learned model's answer where a model serves the schema and read the field, the rules' otherwise."""
    lines = document_lines(parse_response)
    full_text = "\n".join(" ".join(s.text for s in line) for line in lines)
    properties: dict[str, Any] = object_schema(json_schema).get("properties", {})
    fields: dict[str, dict[str, Any]] = {}
    organisation, organisation_line = _organisation(lines)
    day_first = is_day_first(full_text)
    learned = learned_fields(parse_response, properties)  # {} unless a model serves the schema
    for name, prop in properties.items():
        if name in learned:
            fields[name] = learned[name]
            continue
        concept = concept_of(name)
        if prop.get("type") == "array":
            items = extract_line_items(parse_response, prop.get("items", {}))
            fields[name] = {"value": items, "confidence": 0.6 if items else 0.0, "page": None, "coordinates": None}
            continue
        found = _labelled_value(lines, name, prop, day_first)
        if found is None and concept in ORGANISATION_FIELDS:
            found = organisation
        if found is None and concept == "address":
            found = _address(lines, organisation_line)
        fields[name] = found or _unlabelled(lines, name, prop, full_text, day_first)
    for name in properties:
        if concept_of(name) == "currency" and fields[name]["value"] is None:
            amount_field = next((f for n, f in fields.items() if concept_of(n) == "total" and f["value"]), None)
            code = detect_currency(full_text)
            if code:
                fields[name] = _found(code, 0.7 if amount_field else 0.5, None)
    for found in fields.values():
        found.setdefault("source", "rules")
    return fields


def information_extraction_response(
    parse_response: dict[str, Any],
    response_format: dict[str, Any],
    *,
    location: bool = False,
    confidence: bool = False,
    numeric_confidence: bool = False,
    sources: bool = False,
) -> dict[str, Any]:
    """A chat.completion response (contract section 4); ``additional_values`` when asked for.

    ``sources`` adds which extractor answered each field (``model``/``rules``): the local
    backend's own record, not part of the API's wire format (the emulator leaves it out)."""
    fields = extract_fields(parse_response, object_schema(response_format))
    values = {name: f["value"] for name, f in fields.items() if f["value"] not in (None, "")}
    content = json.dumps(values, ensure_ascii=False)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if location or confidence:
        extras = {}
        for name, f in fields.items():
            entry: dict[str, Any] = {"_value": f["value"]}
            if sources:
                entry["source"] = f.get("source", "rules")
            if location:
                entry.update({"page": f["page"], "coordinates": f["coordinates"] or []})
            if confidence:
                entry["confidence"] = f["confidence"] if numeric_confidence else (
                    "high" if f["confidence"] >= 0.5 else "low")
            extras[name] = entry
        message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                                  "function": {"name": "additional_values",
                                               "arguments": json.dumps(extras, ensure_ascii=False)}}]
    prompt_tokens = max(1, len((parse_response.get("content") or {}).get("text", "")) // 4)
    completion_tokens = max(1, len(content) // 4)
    return {"id": f"iex-{uuid.uuid4().hex[:16]}", "object": "chat.completion", "model": LOCAL_IE_MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
