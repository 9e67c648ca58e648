"""Printed dates, amounts and currencies read into normalised values."""

import pytest

from upstage_assets.local_engine.normalize import detect_currency, parse_amount, parse_date


@pytest.mark.parametrize("text, iso", [
    ("25/12/2018", "2018-12-25"), ("12-Mar-2019", "2019-03-12"), ("March 5, 2024", "2024-03-05"),
    ("2024.03.05", "2024-03-05"), ("2024년 3월 5일", "2024-03-05"), ("Date: 24 July 2023 16:14", "2023-07-24"),
    ("Jul 05, 2019", "2019-07-05"), ("Invoice Date: 2014-08-03", "2014-08-03"), ("12/31/2020", "2020-12-31"),
    ("no date here", None), ("31/02/2020", None),
])
def test_dates_to_iso(text, iso):
    assert parse_date(text) == iso


@pytest.mark.parametrize("text, amount, currency", [
    ("$1,234.50", 1234.5, "USD"), ("1.234,50 EUR", 1234.5, "EUR"), ("RM 9.00", 9.0, "MYR"),
    ("Total: 8,197.73", 8197.73, None), ("Rs. 319", 319.0, "INR"), ("12,50 €", 12.5, "EUR"),
    ("₩15,000", 15000.0, "KRW"), ("Qty 2   Total 19.90", 19.9, None),
])
def test_amounts_and_currencies(text, amount, currency):
    assert parse_amount(text) == amount
    assert detect_currency(text) == currency


@pytest.mark.parametrize("text, iso", [
    ("Datum 16.05.20 09:47", "2020-05-16"),  # a two-digit year then a time: not "20 09" -> 2009
    ("15.04.20 16:15", "2020-04-15"),
    ("15.04.20 16.15 Uhr", "2020-04-15"),
    ("Date: 3 March 20 19", "2019-03-03"),  # a year OCR split in two is still joined
])
def test_two_digit_year_followed_by_a_time(text, iso):
    assert parse_date(text) == iso


@pytest.mark.parametrize("text, amount", [
    ("CHF 3'949.75", 3949.75), ("Total CHF 1’250.00", 1250.0), ("1.005,55", 1005.55),
    ("Gesamtbetrag EUR 1.005,55", 1005.55), ("12'345'678.90", 12345678.9),
])
def test_thousands_separators_including_swiss_apostrophes(text, amount):
    assert parse_amount(text) == amount
