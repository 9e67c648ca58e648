"""Three invoice layouts drawn with fpdf2: label-left/value-right, value-below-label, inline.

Different on purpose so that extraction cannot lean on one template.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal

from fpdf import FPDF

from upstage_assets.samples.values import InvoiceData

FIXED_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # fixed so the PDF bytes are reproducible


def new_pdf(width_mm: float = 210, height_mm: float = 297) -> FPDF:
    pdf = FPDF(unit="mm", format=(width_mm, height_mm))
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_producer("upstage-assets samples")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    return pdf


def item_table(pdf: FPDF, inv: InvoiceData, y: float, *, borders: bool, font: str) -> float:
    """Draw the line-item table at y; return the y below it."""
    widths = (90, 20, 35, 35)
    headers = ("Description", "Qty", "Unit Price", "Amount")
    border: Literal[0, 1] = 1 if borders else 0
    pdf.set_xy(15, y)
    pdf.set_font(font, "B", 10)
    for width, head in zip(widths, headers, strict=True):
        pdf.cell(width, 8, head, border=border, align="L" if head == "Description" else "R")
    if not borders:
        pdf.line(15, y + 8, 195, y + 8)
    pdf.set_font(font, "", 10)
    for row, item in enumerate(inv.items):
        pdf.set_xy(15, y + 8 + row * 8)
        cells = (item.description, str(item.quantity), inv.fmt(item.unit_price), inv.fmt(item.amount))
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 8, text, border=border, align="L" if text == item.description else "R")
    return y + 8 + len(inv.items) * 8


def totals_block(pdf: FPDF, inv: InvoiceData, y: float, font: str, total_label: str) -> None:
    rows = [("Subtotal", inv.fmt(inv.subtotal)), (f"Tax ({inv.tax_rate * 100:.0f}%)", inv.fmt(inv.tax))]
    pdf.set_font(font, "", 10)
    for offset, (label, value) in enumerate(rows):
        pdf.set_xy(120, y + offset * 7)
        pdf.cell(40, 7, label)
        pdf.cell(35, 7, value, align="R")
    pdf.set_font(font, "B", 11)
    pdf.set_xy(120, y + len(rows) * 7 + 2)
    pdf.cell(40, 8, total_label)
    pdf.cell(35, 8, inv.fmt(inv.amount), align="R")


def classic(inv: InvoiceData) -> FPDF:
    """Issuer top-left, 'INVOICE' top-right, label: value pairs on the right, bordered table."""
    pdf = new_pdf()
    pdf.set_font("Helvetica", "B", 18)
    pdf.set_xy(15, 15)
    pdf.cell(100, 10, inv.issuer)
    pdf.set_font("Helvetica", "", 10)
    for row, line in enumerate(inv.issuer_address):
        pdf.set_xy(15, 27 + row * 5)
        pdf.cell(100, 5, line)
    pdf.set_font("Helvetica", "B", 22)
    pdf.set_xy(140, 15)
    pdf.cell(55, 10, "INVOICE", align="R")
    pdf.set_font("Helvetica", "", 10)
    pairs = [("Invoice No:", inv.invoice_number), ("Invoice Date:", inv.printed()["date"]),
             ("Due Date:", inv.printed()["due_date"])]
    for row, (label, value) in enumerate(pairs):
        pdf.set_xy(120, 45 + row * 7)
        pdf.cell(30, 7, label)
        pdf.cell(45, 7, value, align="R")
    pdf.set_font("Helvetica", "B", 10)
    pdf.set_xy(15, 50)
    pdf.cell(60, 6, "Bill To:")
    pdf.set_font("Helvetica", "", 10)
    pdf.set_xy(15, 56)
    pdf.cell(80, 6, inv.bill_to)
    bottom = item_table(pdf, inv, 85, borders=True, font="Helvetica")
    totals_block(pdf, inv, bottom + 8, "Helvetica", "Total Due")
    return pdf


def stacked(inv: InvoiceData) -> FPDF:
    """Small capital labels with the value below them, in columns; borderless table."""
    pdf = new_pdf()
    pdf.set_font("Helvetica", "B", 26)
    pdf.set_xy(15, 18)
    pdf.cell(80, 12, "Invoice")
    pdf.set_font("Helvetica", "B", 12)
    pdf.set_xy(110, 18)
    pdf.cell(85, 7, inv.issuer, align="R")
    pdf.set_font("Helvetica", "", 9)
    pdf.set_xy(110, 25)
    pdf.cell(85, 5, ", ".join(inv.issuer_address), align="R")
    columns = [("INVOICE NUMBER", inv.invoice_number), ("DATE OF ISSUE", inv.printed()["date"]),
               ("PAYMENT DUE", inv.printed()["due_date"]), ("BILLED TO", inv.bill_to)]
    for col, (label, value) in enumerate(columns):
        x = 15 + col * 46
        pdf.set_text_color(110, 110, 110)
        pdf.set_font("Helvetica", "B", 8)
        pdf.set_xy(x, 45)
        pdf.cell(44, 5, label)
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Helvetica", "", 10)
        pdf.set_xy(x, 51)
        pdf.cell(44, 6, value)
    bottom = item_table(pdf, inv, 75, borders=False, font="Helvetica")
    pdf.set_text_color(110, 110, 110)
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_xy(135, bottom + 12)
    pdf.cell(60, 6, "AMOUNT DUE", align="R")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Helvetica", "B", 16)
    pdf.set_xy(135, bottom + 19)
    pdf.cell(60, 9, inv.fmt(inv.amount), align="R")
    return pdf


def inline(inv: InvoiceData) -> FPDF:
    """Centred title, 'Label: value' written as one run of text, serif font."""
    pdf = new_pdf()
    pdf.set_font("Times", "B", 20)
    pdf.set_xy(15, 15)
    pdf.cell(180, 10, "TAX INVOICE", align="C")
    pdf.set_font("Times", "B", 13)
    pdf.set_xy(15, 27)
    pdf.cell(180, 7, inv.issuer, align="C")
    pdf.set_font("Times", "", 10)
    pdf.set_xy(15, 34)
    pdf.cell(180, 5, " - ".join(inv.issuer_address), align="C")
    lines = [f"Invoice #: {inv.invoice_number}", f"Date: {inv.printed()['date']}",
             f"Payment due: {inv.printed()['due_date']}", f"Customer: {inv.bill_to}"]
    pdf.set_font("Times", "", 11)
    for row, line in enumerate(lines):
        pdf.set_xy(15, 50 + row * 7)
        pdf.cell(120, 7, line)
    bottom = item_table(pdf, inv, 88, borders=True, font="Times")
    totals_block(pdf, inv, bottom + 8, "Times", "Grand Total:")
    return pdf


INVOICE_LAYOUTS: list[Callable[[InvoiceData], FPDF]] = [classic, stacked, inline]
