"""The project's own sample invoices and receipts with known field values.

Tests and demos need documents whose correct answer is known without depending on a
corpus; each sample is written as a born-digital PDF and as a scanned-looking image.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from upstage_assets.samples.invoice_layouts import INVOICE_LAYOUTS
from upstage_assets.samples.receipt_layouts import RECEIPT_LAYOUTS
from upstage_assets.samples.scan import write_scan
from upstage_assets.samples.values import random_invoice, random_receipt

TRUTH_FILE = "truth.json"


@dataclass(frozen=True)
class Sample:
    """One written document; ``fields`` is the truth, ``printed`` how values appear on it."""

    path: Path
    schema: str
    fields: dict[str, Any]
    printed: dict[str, str] = field(default_factory=dict)


def _write_pair(pdf: Any, stem: str, out_dir: Path, image_ext: str, seed: int) -> tuple[Path, Path]:
    pdf_path = out_dir / f"{stem}.pdf"
    pdf.output(str(pdf_path))
    image_path = out_dir / f"{stem}.{image_ext}"
    write_scan(pdf_path, image_path, np.random.default_rng(seed))
    return pdf_path, image_path


def generate_samples(out_dir: Path, *, seed: int = 0, invoices: int = 3, receipts: int = 3) -> list[Sample]:
    """Write invoices and receipts (PDF + image each) and ``truth.json``; same seed, same files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    samples: list[Sample] = []
    for index in range(invoices):
        data = random_invoice(rng, index)
        pdf = INVOICE_LAYOUTS[index % len(INVOICE_LAYOUTS)](data)
        ext = "jpg" if index % 2 == 0 else "png"
        paths = _write_pair(pdf, f"invoice_{index:03d}", out_dir, ext, seed * 1000 + index)
        samples += [Sample(path, "invoice", data.truth(), data.printed()) for path in paths]
    for index in range(receipts):
        receipt = random_receipt(rng, index)
        pdf = RECEIPT_LAYOUTS[index % len(RECEIPT_LAYOUTS)](receipt)
        ext = "jpg" if index % 2 == 1 else "png"
        paths = _write_pair(pdf, f"receipt_{index:03d}", out_dir, ext, seed * 1000 + 500 + index)
        samples += [Sample(path, "receipt", receipt.truth(), receipt.printed()) for path in paths]
    # "printed" names the fields that appear on the page (the others are known but not visible).
    truth = {s.path.name: {"schema": s.schema, "fields": s.fields, "printed": sorted(s.printed)} for s in samples}
    (out_dir / TRUTH_FILE).write_text(json.dumps(truth, indent=2, ensure_ascii=False), encoding="utf-8")
    return samples


def load_truth(out_dir: Path) -> dict[str, dict[str, Any]]:
    return json.loads((Path(out_dir) / TRUTH_FILE).read_text(encoding="utf-8"))


__all__ = ["Sample", "generate_samples", "load_truth", "TRUTH_FILE"]
