"""Random but plausible field values for generated invoices and receipts.

Kept apart from layout so the truth (ISO dates, plain numbers) and its printed forms are
decided in one place; every printed form here can be parsed back by the local KIE.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

COMPANIES = [
    "Northwind Traders Ltd", "Blue Harbor Consulting", "Acme Industrial Supply", "Greenleaf Studio GmbH",
    "Kestrel Software Inc.", "Maple & Finch LLP", "Orion Logistics B.V.", "Sunrise Printing Co.",
]
CUSTOMERS = [
    "Globex Corporation", "Initech Services", "Umbrella Health Ltd", "Stark Fabrication",
    "Wayne Enterprises", "Hooli Europe SARL", "Vandelay Imports", "Soylent Foods Inc.",
]
SHOPS = [
    "KEDAI RUNCIT AH SENG", "SUNNY MART SDN BHD", "CORNER BAKERY", "GOLDEN DRAGON RESTAURANT",
    "FRESHWAY GROCER", "CAFE MOKA", "HARDWARE HUB ENTERPRISE", "PETRO STATION 24",
]
STREETS = [
    ("12 Jalan Ampang", "50450 Kuala Lumpur"), ("88 Harbour Road", "Singapore 039190"),
    ("221 King Street", "London W6 9JT"), ("4500 Market St", "San Francisco, CA 94105"),
    ("Hauptstrasse 17", "10115 Berlin"), ("No 7 Jalan SS2/24", "47300 Petaling Jaya"),
]
PRODUCTS = [
    ("Consulting hours", 80, 180), ("Website hosting (annual)", 90, 400), ("Laser printer toner", 25, 90),
    ("Office chairs", 60, 250), ("Software licence", 100, 900), ("Network cabling", 5, 30),
    ("Design review", 120, 600), ("Delivery and handling", 10, 60),
]
GROCERIES = [
    ("MILO 1KG", 12, 30), ("BREAD WHITE", 2, 6), ("EGGS 10PCS", 4, 9), ("NASI LEMAK", 3, 9),
    ("KOPI O", 1, 4), ("MINERAL WATER", 1, 3), ("CHICKEN RICE", 5, 12), ("DETERGENT 2L", 8, 25),
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]

CENT = Decimal("0.01")


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def format_date(day: dt.date, style: int, month_first: bool = False) -> str:
    """One of several human date forms; numeric slashes follow the document's convention.

    ``month_first`` is the US convention (a dollar document): 05/08/2024 is then 8 May on a
    European invoice and 5 August on an American one, as readers of each would take it.
    """
    slashed = (f"{day.month:02d}/{day.day:02d}/{day.year}" if month_first
               else f"{day.day:02d}/{day.month:02d}/{day.year}")
    styles = [
        f"{MONTHS[day.month - 1]} {day.day}, {day.year}",
        slashed,
        day.isoformat(),
        f"{day.day:02d}-{MONTHS[day.month - 1][:3]}-{day.year}",
        f"{day.day:02d}.{day.month:02d}.{day.year}",
        f"{day.day} {MONTHS[day.month - 1]} {day.year}",
        f"{MONTHS[day.month - 1][:3]} {day.day:02d}, {day.year}",
    ]
    return styles[style % len(styles)]


def format_amount(value: Decimal, currency: str, style: int) -> str:
    """Amount with thousands separators and a currency symbol or code, EU style for EUR."""
    plain = f"{value:,.2f}"
    if currency == "EUR":
        eu = plain.replace(",", "_").replace(".", ",").replace("_", ".")
        return [f"{eu} EUR", f"EUR {eu}"][style % 2]
    symbols = {"USD": "$", "GBP": "£", "MYR": "RM", "SGD": "S$"}
    symbol = symbols.get(currency, currency)
    return [f"{symbol}{plain}", f"{currency} {plain}", f"{symbol} {plain}"][style % 3]


@dataclass
class LineItem:
    description: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return money(self.unit_price * self.quantity)

    def truth(self) -> dict[str, object]:
        return {"description": self.description, "quantity": self.quantity,
                "unit_price": float(self.unit_price), "amount": float(self.amount)}


@dataclass
class InvoiceData:
    issuer: str
    issuer_address: tuple[str, str]
    invoice_number: str
    date: dt.date
    due_date: dt.date
    currency: str
    bill_to: str
    items: list[LineItem]
    tax_rate: Decimal
    date_style: int
    amount_style: int

    @property
    def subtotal(self) -> Decimal:
        return money(sum((item.amount for item in self.items), Decimal(0)))

    @property
    def tax(self) -> Decimal:
        return money(self.subtotal * self.tax_rate)

    @property
    def amount(self) -> Decimal:
        return self.subtotal + self.tax

    def truth(self) -> dict[str, object]:
        return {
            "issuer": self.issuer, "invoice_number": self.invoice_number,
            "date": self.date.isoformat(), "due_date": self.due_date.isoformat(),
            "amount": float(self.amount), "currency": self.currency, "bill_to": self.bill_to,
            "line_items": [item.truth() for item in self.items],
        }

    def printed(self) -> dict[str, str]:
        return {"issuer": self.issuer, "invoice_number": self.invoice_number,
                "date": format_date(self.date, self.date_style, self.currency == "USD"),
                "due_date": format_date(self.due_date, self.date_style, self.currency == "USD"),
                "amount": self.fmt(self.amount), "bill_to": self.bill_to}

    def fmt(self, value: Decimal) -> str:
        return format_amount(value, self.currency, self.amount_style)


@dataclass
class ReceiptData:
    company: str
    address: tuple[str, str]
    date: dt.date
    time: str
    currency: str
    receipt_number: str
    items: list[LineItem] = field(default_factory=list)
    date_style: int = 0

    @property
    def total(self) -> Decimal:
        return money(sum((item.amount for item in self.items), Decimal(0)))

    def truth(self) -> dict[str, object]:
        return {"company": self.company, "address": ", ".join(self.address),
                "date": self.date.isoformat(), "total": float(self.total),
                "currency": self.currency, "receipt_number": self.receipt_number}

    def printed(self) -> dict[str, str]:
        return {"company": self.company, "date": format_date(self.date, self.date_style, self.currency == "USD"),
                "total": f"{self.total:,.2f}", "receipt_number": self.receipt_number}


def random_date(rng: random.Random) -> dt.date:
    return dt.date(2018, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 7))


def random_invoice(rng: random.Random, index: int) -> InvoiceData:
    issued = random_date(rng)
    currency = ["USD", "EUR", "GBP", "USD", "EUR"][index % 5]
    items = [
        LineItem(name, rng.randint(1, 40 if high < 100 else 12), money(rng.uniform(low, high)))
        for name, low, high in rng.sample(PRODUCTS, rng.randint(2, 5))
    ]
    prefix = rng.choice(["INV-", "", "F", "2024/"])
    return InvoiceData(
        issuer=rng.choice(COMPANIES), issuer_address=rng.choice(STREETS),
        invoice_number=f"{prefix}{rng.randint(1000, 99999):05d}",
        date=issued, due_date=issued + dt.timedelta(days=rng.choice([14, 30, 45])),
        currency=currency, bill_to=rng.choice(CUSTOMERS), items=items,
        tax_rate=Decimal(rng.choice(["0.00", "0.06", "0.08", "0.19", "0.20"])),
        date_style=index + rng.randrange(7), amount_style=rng.randrange(6),
    )


def random_receipt(rng: random.Random, index: int) -> ReceiptData:
    items = [LineItem(name, rng.randint(1, 3), money(rng.uniform(low, high)))
             for name, low, high in rng.sample(GROCERIES, rng.randint(2, 6))]
    return ReceiptData(
        company=rng.choice(SHOPS), address=rng.choice(STREETS), date=random_date(rng),
        time=f"{rng.randint(8, 21):02d}:{rng.randint(0, 59):02d}",
        currency=["MYR", "USD", "SGD"][index % 3],
        receipt_number=f"{rng.choice(['R', 'CS', 'T'])}{rng.randint(10000, 999999)}",
        items=items, date_style=index * 2 + rng.randrange(7),
    )
