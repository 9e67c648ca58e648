"""Document classification on this machine: which label a parsed document is, with a confidence.

Rules over the page text and layout, built from what documents of a kind say about
themselves in general (an invoice names itself and asks for payment by a due date; a receipt
records a paid purchase: tender, change, card; both are dense with amounts; reports, manuals and
articles are prose), never from particular files. Each label collects evidence:

- the cue words of the built-in kind its name or description names (invoice, receipt), in
  several languages, and the content words of its own description (a user's schema's label is
  described by its description or field names);
- layout: the share of lines holding an amount (transactions) against the share of long prose
  lines and the page count (``others``).

Scores become probabilities with a softmax; the confidence is the chosen label's probability.
``others`` (or the last label when none is called that) is the fallback every label must beat.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from upstage_assets.schemas.classification import OTHERS, Classification, DocumentLabel

CLASSIFIER_NAME = "local-rules"
MAX_PAGES_READ = 3
TEMPERATURE = 1.5
#: Cue -> weight. The kind's own name weighs most; words shared with other kinds little.
KIND_CUES: dict[str, dict[str, float]] = {
    "invoice": {
        "invoice": 3, "rechnung": 3, "facture": 3, "factura": 3, "fattura": 3, "faktura": 3, "factuur": 3,
        "fatura": 3, "청구서": 3, "세금계산서": 3, "請求書": 3, "bill to": 2, "billed to": 2, "sold to": 1.5,
        "ship to": 1, "invoice number": 2, "invoice no": 2, "invoice date": 2, "due date": 2, "date due": 2,
        "payment terms": 2, "amount due": 2, "balance due": 2, "total due": 2, "purchase order": 1,
        "iban": 1.5, "swift": 1, "bic": 0.5, "remit": 1.5, "vat": 1, "tva": 1, "mwst": 1, "ust": 0.5,
        "unit price": 1, "customer": 0.5, "account": 0.5, "net amount": 1, "zahlbar": 1.5, "échéance": 1.5,
        "bank": 0.5, "subtotal": 0.5, "tax": 0.5, "quantity": 0.5, "billing": 1, "pay by": 1,
    },
    "receipt": {
        "receipt": 3, "kassenbon": 3, "quittung": 3, "reçu": 3, "recibo": 3, "scontrino": 3, "영수증": 3,
        "領収書": 3, "cash": 2, "change": 2, "tender": 2, "tendered": 2, "cashier": 2, "rounding": 2,
        "thank you": 1.5, "come again": 2, "visa": 1, "mastercard": 1, "card": 1, "paid": 1, "qty": 1,
        "subtotal": 1, "total": 1, "gst": 1, "pos": 1, "terminal": 1, "approval": 1, "table": 0.5,
        "member": 0.5, "item": 0.5, "bar": 0.5, "restaurant": 1, "store": 0.5,
        "tel": 0.5, "amount": 0.5, "tax": 0.5, "$": 0.5, "€": 0.5,
    },
}
STOPWORDS = frozenset("""a an and any are as at be by for from in is it of on or other the this to with
document documents e.g. such their them these those what which who has have its not all each per""".split())
AMOUNT = re.compile(r"(?<![\d])\d{1,3}(?:[ ,.']\d{3})*[.,]\d{2}(?!\d)")
WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*|[$€£¥₩]", re.UNICODE)


@dataclass(frozen=True)
class PageEvidence:
    """What the rules read from a parse: its text and a few layout figures."""

    text: str
    words: frozenset[str]
    lines: int
    amount_share: float  # lines holding an amount
    prose_share: float  # lines of 10 words or more
    pages: int


def page_evidence(parsed: dict[str, Any]) -> PageEvidence:
    elements = [e for e in parsed.get("elements") or [] if int(e.get("page") or 1) <= MAX_PAGES_READ]
    lines: list[str] = []
    for element in elements:
        text = str((element.get("content") or {}).get("text") or "")
        lines.extend(line.strip() for line in text.splitlines() if line.strip())
    if not lines:
        content = parsed.get("content") or {}
        lines = [line.strip() for line in str(content.get("text") or content.get("markdown") or "").splitlines()
                 if line.strip()]
    text = "\n".join(lines).lower()
    pages = max([int(e.get("page") or 1) for e in parsed.get("elements") or []] or [1])
    pages = max(pages, int((parsed.get("usage") or {}).get("pages") or 0))
    count = max(len(lines), 1)
    return PageEvidence(
        text=text, words=frozenset(WORD.findall(text)), lines=len(lines),
        amount_share=sum(1 for line in lines if AMOUNT.search(line)) / count,
        prose_share=sum(1 for line in lines if len(line.split()) >= 10) / count, pages=pages)


def _has(evidence: PageEvidence, cue: str) -> bool:
    if " " in cue or not cue.isalnum():
        return cue in evidence.text
    return cue in evidence.words


def _kinds_of(label: DocumentLabel) -> list[str]:
    """The built-in kinds a label stands for: by its name first, else by its description."""
    name = label.name.lower()
    by_name = [kind for kind in KIND_CUES if kind in name]
    if by_name:
        return by_name
    description = set(WORD.findall(label.description.lower()))
    return [kind for kind in KIND_CUES if kind in description][:1]


def _description_cues(label: DocumentLabel) -> set[str]:
    words = set(WORD.findall(f"{label.name.replace('_', ' ')} {label.description}".lower()))
    return {w for w in words if len(w) >= 4 and w not in STOPWORDS and not w.isdigit()}


def _transactional(evidence: PageEvidence) -> float:
    """0..1: how much the pages look like a transaction (amount lines), discounted by prose."""
    return max(0.0, min(1.0, evidence.amount_share * 4) - evidence.prose_share)


def _label_score(label: DocumentLabel, evidence: PageEvidence) -> float:
    cues: dict[str, float] = {}
    for kind in _kinds_of(label):
        cues.update(KIND_CUES[kind])
    for word in _description_cues(label):
        cues.setdefault(word, 0.5)
    found = sum(weight for cue, weight in cues.items() if _has(evidence, cue))
    evidence_score = math.log1p(found) * 2.0  # diminishing returns: many weak cues never beat a title
    return evidence_score * (0.4 + _transactional(evidence))


def _fallback_score(evidence: PageEvidence) -> float:
    """The score every label must beat: higher for prose, long documents and pages without amounts."""
    return (1.6 + 2.5 * evidence.prose_share + (1.0 if evidence.pages > 4 else 0.0)
            + (1.0 - min(1.0, evidence.amount_share * 4)) + (1.0 if evidence.lines < 3 else 0.0))


def classify_parsed(parsed: dict[str, Any], labels: list[DocumentLabel]) -> Classification:
    """The label of a parsed document among ``labels`` (``others``, or the last label, is the fallback)."""
    if not labels:
        raise ValueError("at least one label is needed")
    evidence = page_evidence(parsed)
    fallback = next((label.name for label in labels if label.name == OTHERS), labels[-1].name)
    scores = {label.name: (_fallback_score(evidence) if label.name == fallback else _label_score(label, evidence))
              for label in labels}
    peak = max(scores.values())
    exps = {name: math.exp((score - peak) / TEMPERATURE) for name, score in scores.items()}
    total = sum(exps.values())
    probabilities = {name: round(value / total, 4) for name, value in exps.items()}
    label = max(probabilities, key=lambda name: (probabilities[name], name != fallback))
    return Classification(label, probabilities[label], CLASSIFIER_NAME, probabilities)
