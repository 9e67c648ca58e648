"""Three till-receipt layouts on narrow paper: centred header, left header, boxed totals."""

from __future__ import annotations

from collections.abc import Callable

from fpdf import FPDF

from upstage_assets.samples.invoice_layouts import new_pdf
from upstage_assets.samples.values import ReceiptData

WIDTH = 80.0


def header(pdf: FPDF, rec: ReceiptData, align: str, font: str) -> float:
    pdf.set_font(font, "B", 11)
    pdf.set_xy(4, 6)
    pdf.cell(WIDTH - 8, 6, rec.company, align=align)
    pdf.set_font(font, "", 8)
    for row, line in enumerate(rec.address):
        pdf.set_xy(4, 13 + row * 4)
        pdf.cell(WIDTH - 8, 4, line, align=align)
    return 13 + len(rec.address) * 4 + 3


def items(pdf: FPDF, rec: ReceiptData, y: float, font: str) -> float:
    pdf.set_font(font, "", 8)
    pdf.set_xy(4, y)
    pdf.cell(WIDTH - 8, 4, "-" * 40 if font == "Courier" else "")
    pdf.line(4, y + 4.5, WIDTH - 4, y + 4.5)
    y += 6
    for item in rec.items:
        pdf.set_xy(4, y)
        pdf.cell(38, 4, item.description)
        pdf.cell(14, 4, f"{item.quantity} x", align="R")
        pdf.cell(20, 4, f"{item.amount:,.2f}", align="R")
        y += 4.5
    pdf.line(4, y + 1, WIDTH - 4, y + 1)
    return y + 3


def centred(rec: ReceiptData) -> FPDF:
    """Header centred, 'Label: value' lines, TOTAL with the currency symbol."""
    pdf = new_pdf(WIDTH, 150)
    y = header(pdf, rec, "C", "Courier")
    pdf.set_font("Courier", "", 8)
    for line in (f"Receipt No: {rec.receipt_number}", f"Date: {rec.printed()['date']}  {rec.time}"):
        pdf.set_xy(4, y)
        pdf.cell(WIDTH - 8, 4, line)
        y += 4.5
    y = items(pdf, rec, y + 2, "Courier")
    symbol = {"MYR": "RM", "USD": "$", "SGD": "S$"}[rec.currency]
    pdf.set_font("Courier", "B", 10)
    pdf.set_xy(4, y)
    pdf.cell(40, 6, "TOTAL")
    pdf.cell(32, 6, f"{symbol} {rec.printed()['total']}", align="R")
    pdf.set_font("Courier", "", 8)
    pdf.set_xy(4, y + 10)
    pdf.cell(WIDTH - 8, 4, "THANK YOU, PLEASE COME AGAIN", align="C")
    return pdf


def left(rec: ReceiptData) -> FPDF:
    """Header left-aligned, date label above its value, rounding line before the total."""
    pdf = new_pdf(WIDTH, 140)
    y = header(pdf, rec, "L", "Helvetica")
    pdf.set_font("Helvetica", "", 8)
    pdf.set_xy(4, y)
    pdf.cell(36, 4, "Bill No")
    pdf.cell(36, 4, "Date")
    pdf.set_xy(4, y + 4)
    pdf.cell(36, 4, rec.receipt_number)
    pdf.cell(36, 4, rec.printed()["date"])
    y = items(pdf, rec, y + 10, "Helvetica")
    pdf.set_font("Helvetica", "", 8)
    pdf.set_xy(4, y)
    pdf.cell(52, 4, "Rounding Adj")
    pdf.cell(20, 4, "0.00", align="R")
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_xy(4, y + 5)
    pdf.cell(52, 5, f"Total ({rec.currency})")
    pdf.cell(20, 5, rec.printed()["total"], align="R")
    return pdf


def boxed(rec: ReceiptData) -> FPDF:
    """'CASH RECEIPT' banner, number and date on one row, total in a box."""
    pdf = new_pdf(WIDTH, 150)
    pdf.set_font("Courier", "B", 9)
    pdf.set_xy(4, 2)
    pdf.cell(WIDTH - 8, 4, "CASH RECEIPT", align="C")
    y = header(pdf, rec, "C", "Courier") + 2
    pdf.set_font("Courier", "", 8)
    pdf.set_xy(4, y)
    pdf.cell(36, 4, f"No.{rec.receipt_number}")
    pdf.cell(36, 4, rec.printed()["date"], align="R")
    y = items(pdf, rec, y + 6, "Courier")
    pdf.set_font("Courier", "B", 10)
    pdf.set_xy(4, y + 2)
    pdf.cell(40, 8, "AMOUNT DUE", border="LTB")
    pdf.cell(32, 8, rec.printed()["total"], border="RTB", align="R")
    return pdf


RECEIPT_LAYOUTS: list[Callable[[ReceiptData], FPDF]] = [centred, left, boxed]
