"""Day or month first, decided from the document's own cues."""

import pytest

from upstage_assets.local_engine.date_order import is_day_first
from upstage_assets.local_engine.normalize import parse_date


@pytest.mark.parametrize("text, day_first", [
    # A US receipt: dollars and a Washington street address.
    ("STARBUCKS STORE 1234\n1912 Pike Pl, Seattle, WA 98101\n6/10/2019 08:12\nTotal $4.35", False),
    ("Grand total USD 12.00\nDate 6/10/2019", False),
    # Another date on the page can only be read one way: it settles the order.
    ("Invoice 04/03/2020  Due 04/17/2020", False),
    ("Invoice 04/03/2020  Due 18/03/2020  $ 12.00", True),
    # Euros, ringgit, German wording: day first.
    ("Rechnung\nDatum 06.10.2019\nSumme 12,00 EUR", True),
    ("KEDAI MAJU SDN BHD\n6/10/2019\nTOTAL RM 9.00", True),
    ("no cues at all 6/10/2019", True),
])
def test_date_order_from_country_cues(text, day_first):
    assert is_day_first(text) is day_first


def test_us_receipt_date_read_month_first():
    text = "Total $4.35\n1912 Pike Pl, Seattle, WA 98101\n6/10/2019"
    assert parse_date("6/10/2019", day_first=is_day_first(text)) == "2019-06-10"


def test_dotted_dates_are_day_first_even_beside_dollars():
    """08.05.2024 is 8 May wherever it is printed: the month-first convention writes slashes."""
    text = "Invoice\nDate: 08.05.2024\nTotal $4,827.07"
    assert is_day_first(text) is False  # the dollars alone point to month-first slashes...
    assert parse_date("08.05.2024", day_first=is_day_first(text)) == "2024-05-08"  # ...not to dotted dates
    assert parse_date("08/05/2024", day_first=is_day_first(text)) == "2024-08-05"
