"""Test documents generated on the fly: born-digital PDFs (fpdf2), renderings and scans."""

from __future__ import annotations

import io

import numpy as np
import pypdfium2 as pdfium
from fpdf import FPDF
from PIL import Image, ImageFilter

FONT_DIR = "/usr/share/fonts/truetype/dejavu"

LOREM_LEFT = ("Revenue grew in every region during the quarter. The northern stores led the growth "
              "with new customers arriving from the coast. Staff costs stayed flat while logistics "
              "improved after the warehouse move.")
LOREM_RIGHT = ("Risks remain in the supply of packaging material. Prices for paper rose again and "
               "contracts with two suppliers end next spring. The board asked for a second source "
               "before the summer season begins.")


def _pdf() -> FPDF:
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    pdf.add_font("DejaVu", "", f"{FONT_DIR}/DejaVuSans.ttf")
    pdf.add_font("DejaVu", "B", f"{FONT_DIR}/DejaVuSans-Bold.ttf")
    return pdf


def _header_footer(pdf: FPDF, page: int, pages: int) -> None:
    pdf.set_font("DejaVu", "", 8)
    pdf.set_xy(20, 8)
    pdf.cell(0, 5, "ACME Holdings - Quarterly Report")
    pdf.set_xy(20, 287)
    pdf.cell(0, 5, f"Page {page} of {pages}")


def report_pdf() -> bytes:
    """Two pages: heading, paragraph, table and list; then a two-column page."""
    pdf = _pdf()
    pdf.add_page()
    _header_footer(pdf, 1, 2)
    pdf.set_font("DejaVu", "B", 20)
    pdf.set_xy(20, 25)
    pdf.cell(0, 10, "Annual Summary")
    pdf.set_font("DejaVu", "", 11)
    pdf.set_xy(20, 40)
    pdf.multi_cell(170, 6, LOREM_LEFT + " " + LOREM_RIGHT)
    pdf.set_font("DejaVu", "", 11)
    rows = [("Item", "Quantity", "Price"), ("Paper", "12", "4.50"), ("Ink", "3", "19.99"), ("Staples", "40", "0.25")]
    y = 85.0
    for row in rows:
        for x, text in zip((20, 90, 150), row, strict=True):
            pdf.set_xy(x, y)
            pdf.cell(40, 7, text)
        y += 8
    pdf.set_xy(20, 125)
    for item in ("\u2022 Open the new warehouse", "\u2022 Hire two drivers", "\u2022 Renew the supplier contracts"):
        pdf.set_x(20)
        pdf.cell(0, 6, item, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    _header_footer(pdf, 2, 2)
    pdf.set_font("DejaVu", "B", 20)
    pdf.set_xy(20, 25)
    pdf.cell(0, 10, "Outlook")
    pdf.set_font("DejaVu", "", 11)
    pdf.set_xy(20, 40)
    pdf.multi_cell(80, 6, LOREM_LEFT)
    pdf.set_xy(110, 40)
    pdf.multi_cell(80, 6, LOREM_RIGHT)
    return bytes(pdf.output())


def invoice_pdf() -> bytes:
    """An invoice: address left, invoice facts right, label/value lines far apart."""
    pdf = _pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 22)
    pdf.set_xy(20, 20)
    pdf.cell(0, 12, "INVOICE")
    pdf.set_font("DejaVu", "", 11)
    left = ["Northwind Traders Ltd", "12 Harbour Road", "Springfield 4021"]
    right = [("Invoice No:", "2024-0113"), ("Date:", "2024-03-05"), ("Due:", "2024-04-05")]
    for i, text in enumerate(left):
        pdf.set_xy(20, 45 + 7 * i)
        pdf.cell(0, 6, text)
    for i, (label, value) in enumerate(right):
        pdf.set_xy(120, 45 + 7 * i)
        pdf.cell(0, 6, label)
        pdf.set_xy(160, 45 + 7 * i)
        pdf.cell(0, 6, value)
    pdf.set_font("DejaVu", "B", 12)
    pdf.set_xy(20, 110)
    pdf.cell(0, 8, "TOTAL")
    pdf.set_xy(170, 110)
    pdf.cell(0, 8, "9.00")
    return bytes(pdf.output())


def rotated_pdf() -> bytes:
    """A landscape page stored portrait with /Rotate 90 and its text drawn turned, so it
    displays upright: words must come out in displayed (landscape) coordinates."""
    pdf = _pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 14)
    with pdf.rotation(90, x=30, y=250):
        pdf.text(30, 250, "Rotated page text")
    data = bytes(pdf.output())
    doc = pdfium.PdfDocument(data)
    doc[0].set_rotation(90)
    buffer = io.BytesIO()
    doc.save(buffer)
    doc.close()
    return buffer.getvalue()


def render_png(pdf_bytes: bytes, page: int = 0, dpi: int = 150) -> bytes:
    doc = pdfium.PdfDocument(pdf_bytes)
    image = doc[page].render(scale=dpi / 72).to_pil().convert("RGB")
    doc.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def scanned_jpeg(pdf_bytes: bytes, angle: float = 1.5, seed: int = 7) -> bytes:
    """A scan-like JPEG: slightly rotated, blurred, with salt-and-pepper noise and grey paper."""
    image = Image.open(io.BytesIO(render_png(pdf_bytes))).convert("L")
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    pixels = np.array(image).astype(np.int16)
    noise = np.random.default_rng(seed).integers(-18, 19, size=pixels.shape, dtype=np.int16)
    pixels = np.clip(pixels * 0.9 + 12 + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=75)
    return buffer.getvalue()


def image_only_pdf(image_bytes: bytes) -> bytes:
    """A 'scanned' PDF: one page that is only an image, no text layer."""
    image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PDF", resolution=150)
    return buffer.getvalue()
