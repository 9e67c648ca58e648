"""Whole known values for fields whose labels recur (company names), never for fields that do not."""

from __future__ import annotations

import pytest
import torch

from upstage_assets.local_engine.learned.catalog import load_model, save_model
from upstage_assets.local_engine.learned.dataset import FieldSpec
from upstage_assets.local_engine.learned.known_values import KnownValues, known_values_from_labels
from upstage_assets.local_engine.learned.model import FieldTagger
from upstage_assets.local_engine.learned.spelling import lexicon_from_labels, repair

# Thirty names seen once each, two seen often; each chain's branches have their own address,
# a few characters from its neighbours' (as a real chain's addresses are).
CHAINS = ["SANYU STATIONERY SHOP", "GARDENIA BAKERIES (KL) SDN BHD", "AEON CO. (M) BHD", "KEDAI PAPAN YEW CHUAN",
          "RESTORAN WAN SHENG", "POPULAR BOOK CO. (M) SDN BHD", "ONE ONE THREE SEAFOOD RESTAURANT", "IKANO HANDEL",
          "TEO HENG STATIONERY & BOOKS", "LIGHTROOM GALLERY", "PERNIAGAAN ZHENG HUI", "DION REALTIES",
          "MOONLIGHT CAKE HOUSE", "C W KHOO HARDWARE", "KING'S CONFECTIONERY S/B", "SUBANG HEALTHCARE",
          "SEGI CASH & CARRY", "LIM SENG THO HARDWARE TRADING", "BILLION SIX ENTERPRISE", "PASAR MINI JIN SENG",
          "FIVE STAR CASH & CARRY", "DE MAXIMUM THAI EXPRESS", "PASARAYA BORONG PINTAR", "THE TOAST F&B",
          "TONYMOLY VIVA CITY", "GUARDIAN HEALTH AND BEAUTY", "ADVANCO COMPANY", "BEMED (SP) SDN. BHD.",
          "UNIHAKKA INTERNATIONAL", "SYARIKAT PERNIAGAAN GIN KEE"]
LABELS = [{"company": name, "address": f"NO {n}, JALAN PELABUR {n % 7}, 40300 SHAH ALAM"}
          for n, name in enumerate(CHAINS, start=10)]
LABELS += [{"company": "99 SPEED MART S/B", "address": f"LOT {n}, JALAN KLANG LAMA, 58000 KUALA LUMPUR"}
           for n in range(5)]
LABELS += [{"company": "MR. D.I.Y. (M) SDN BHD", "address": "LOT 1851-A, JALAN KPB 6, 43300 SERI KEMBANGAN"}] * 4
LABELS += [{"company": "MR. D.I.Y. (M) SDN. BHD.", "address": "LOT 1851-A, JALAN KPB 6, 43300 SERI KEMBANGAN"}]
KNOWN = known_values_from_labels(LABELS, ["company", "address"])


def test_only_a_field_whose_distinct_values_lie_far_apart_is_snapped():
    assert KNOWN.closed_fields == ["company"]
    # The addresses differ by a digit or two: a new branch's address must stay as read.
    assert KNOWN.snap("address", "NO 99, JALAN PELABUR 3, 40300 SHAH ALAM") == "NO 99, JALAN PELABUR 3, 40300 SHAH ALAM"


@pytest.mark.parametrize(("read", "known"), [
    ("99 SPEED MART 5/B", "99 SPEED MART S/B"),  # look-alike digit
    ("99 SPEED MART S/D", "99 SPEED MART S/B"),  # one letter
    ("MR. D.I. . (M) SDN BHD", "MR. D.I.Y. (M) SDN BHD"),  # a dropped letter; the most frequent spelling
    ("99SPEED MART S/B", "99 SPEED MART S/B"),  # spacing
])
def test_an_ocr_slip_of_a_known_name_becomes_that_name(read, known):
    assert KNOWN.snap("company", read) == known


def test_a_new_name_or_a_name_equally_close_to_two_known_ones_is_left_as_read():
    assert KNOWN.snap("company", "ROTI MAN BAKERY") == "ROTI MAN BAKERY"
    assert KNOWN.snap("company", "ROTI MAN BAKERY (KL) SDN BHD") == "ROTI MAN BAKERY (KL) SDN BHD"
    tied = KnownValues({"company": {"ABCDEFGHIJ": ("ABCDEFGHIJ", 2), "ABCDEFGHIL": ("ABCDEFGHIL", 2)}}, ["company"])
    assert tied.snap("company", "ABCDEFGHIK") == "ABCDEFGHIK"


def test_too_few_names_to_check_means_no_snapping():
    few = known_values_from_labels(LABELS[-10:], ["company"])
    assert few.closed_fields == []
    assert few.snap("company", "99 SPEED MART 5/B") == "99 SPEED MART 5/B"


def test_repair_snaps_given_the_field_and_the_model_file_keeps_the_known_values(tmp_path):
    lexicon = lexicon_from_labels(LABELS, ["company", "address"])
    lexicon.known = KNOWN
    assert repair("99 SPEED MART 5/B", lexicon, "company") == "99 SPEED MART S/B"
    assert repair("99 SPEED MART 5/B", lexicon) == "99 SPEED MART 5/B"  # no field: words only
    path = save_model(tmp_path / "m.pt", FieldTagger(1), [FieldSpec("company", "text")], {}, lexicon)
    torch.manual_seed(0)
    loaded = load_model(path).lexicon
    assert loaded is not None and loaded.known == lexicon.known


def test_whole_values_are_counted_per_document_not_per_reading_of_its_page():
    from upstage_assets.local_engine.learned.dataset import make_example
    from upstage_assets.local_engine.learned.features import page_view
    from upstage_assets.local_engine.learned.fit import document_labels
    from upstage_assets_tests.local_engine.learned.pages import RECEIPT

    view = page_view(RECEIPT)
    fields = [FieldSpec("company", "text")]
    examples = [make_example(view, label, fields, f"doc{n}", source=source)
                for n, label in enumerate(LABELS) for source in ("transcripts", "ocr")]
    assert len(document_labels(examples)) == len(LABELS)
    assert known_values_from_labels(document_labels(examples), ["company"]).closed_fields == ["company"]
    # Each name counted twice would leave no name seen once, and nothing to check the field on.
    assert known_values_from_labels([e.labels for e in examples], ["company"]).closed_fields == []
