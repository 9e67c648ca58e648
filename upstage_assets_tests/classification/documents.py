"""Generated documents of three kinds (never the shared corpus): invoices, receipts, and prose."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

REPORT_PARAGRAPHS = (
    "Annual report of the community garden association. This year the members planted a second orchard "
    "along the northern fence and the volunteers repaired the greenhouse roof after the spring storms.",
    "The committee met eleven times. Attendance grew steadily through the summer, and the open days in "
    "June and September brought many new families to the garden for the first time.",
    "Next year the association plans to build a rainwater store, to extend the children's beds and to "
    "invite the neighbouring school to take part in the autumn harvest festival.",
)


def report_pdf(title: str = "Annual report") -> bytes:
    """A two-page prose document: no amounts, no invoice or receipt cues."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    pdf.set_font("Helvetica", size=11)
    for page in range(2):
        pdf.add_page()
        pdf.cell(0, 10, f"{title} - part {page + 1}", new_x="LMARGIN", new_y="NEXT")
        for paragraph in REPORT_PARAGRAPHS:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def kind_pdfs(out: Path, seed: int = 5) -> dict[str, list[Path]]:
    """Text-layer PDFs by kind: ``invoice``, ``receipt`` (the project's sample generator), ``others``."""
    from upstage_assets.samples import generate_samples

    samples = generate_samples(out / "samples", seed=seed, invoices=1, receipts=1)
    kinds: dict[str, list[Path]] = {"invoice": [], "receipt": [], "others": []}
    for sample in samples:
        if sample.path.suffix == ".pdf":
            kinds[sample.schema].append(sample.path)
    report = out / "annual-report.pdf"
    report.write_bytes(report_pdf())
    kinds["others"].append(report)
    return kinds
