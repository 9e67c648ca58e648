"""Generated test documents (never the shared corpus): distinct small PDFs and images."""

from __future__ import annotations

import datetime as dt
import io

from upstage_assets.upstage_api.parser import SourceDocument


def make_pdf(pages: int = 1, tag: str = "INV-001") -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # same text, same bytes
    pdf.set_font("Helvetica", size=14)
    for page in range(1, pages + 1):
        pdf.add_page()
        for line in ("INVOICE", f"Invoice No: {tag}", "Date: 2026-11-02", "Total: 42.50"):
            pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 10, f"Page {page} of {pages}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def make_png(text: str = "TOTAL 42.50") -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (480, 120), "white")
    ImageDraw.Draw(image).text((10, 30), text, fill="black", font=ImageFont.load_default(size=40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_document(doc_id: str, pages: int = 1) -> SourceDocument:
    return SourceDocument(doc_id, f"{doc_id}.pdf", make_pdf(pages, tag=doc_id), "application/pdf", pages)


def png_document(doc_id: str, text: str = "TOTAL 42.50") -> SourceDocument:
    return SourceDocument(doc_id, f"{doc_id}.png", make_png(text), "image/png", 1)
