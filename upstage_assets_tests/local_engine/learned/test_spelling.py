"""Text values as the tagger reads them: whole marked words, OCR slips repaired from the labels' words."""

from __future__ import annotations

import numpy as np
import torch

from upstage_assets.local_engine.learned.catalog import load_model, save_model
from upstage_assets.local_engine.learned.dataset import FieldSpec
from upstage_assets.local_engine.learned.features import page_view
from upstage_assets.local_engine.learned.model import FieldTagger
from upstage_assets.local_engine.learned.predict import decode
from upstage_assets.local_engine.learned.spelling import Lexicon, lexicon_from_labels, repair
from upstage_assets_tests.local_engine.learned.pages import element, response

LABELS = [
    {"company": "SANYU STATIONERY SHOP", "address": "NO. 31G&33G, JALAN SETIA INDAH X, 40170 SETIA ALAM"},
    {"company": "GARDENIA BAKERIES (KL) SDN BHD", "address": "LOT 3, JALAN PELABUR 23/1, 40300 SHAH ALAM, SELANGOR"},
    {"company": "AEON CO. (M) BHD", "address": "LEVEL 4, AEON MALL, 81100 JOHOR BAHRU, JOHOR"},
    {"company": "GUARDIAN HEALTH AND BEAUTY SDN BHD", "address": "NO 15 JALAN BANDAR RAWANG, SELANGOR"},
    {"company": "KEDAI SELANGOR", "address": "JALAN KLANG LAMA, SELANGOR", "total": "9.00"},
]
LEXICON = lexicon_from_labels(LABELS, ["company", "address"])


def test_the_lexicon_holds_the_words_of_the_text_fields_only():
    assert LEXICON.count("SELANGOR") == 4 and "jalan" in LEXICON
    assert "9" not in LEXICON and "00" not in LEXICON  # total is not a text field here
    assert not LEXICON.accented
    assert lexicon_from_labels([{"company": "CAFÉ MÜLLER"}], ["company"]).accented


def test_run_together_words_are_split_and_stray_spaces_closed():
    assert repair("SANYUSTATIONERYSHOP", LEXICON) == "SANYU STATIONERY SHOP"
    assert repair("GARDENI A BAKERIES (KL) SDN BHD", LEXICON) == "GARDENIA BAKERIES (KL) SDN BHD"
    assert repair("L ot 3, Jal an Pelabur", LEXICON) == "Lot 3, Jalan Pelabur"


def test_look_alikes_accents_and_one_letter_slips_become_known_words():
    assert repair("Leve1 4, AEON Ma11", LEXICON).upper() == "LEVEL 4, AEON MALL"
    assert repair("KLANG, SCLANGOR", LEXICON) == "KLANG, SELANGOR"  # SELANGOR seen 4 times
    assert repair("buardian Health", LEXICON) == "buardian Health"  # GUARDIAN seen once: too rare to trust
    assert repair("buardian Health", Lexicon({"GUARDIAN": 3, "HEALTH": 3})) == "guardian Health"
    assert repair("40170 SETIA ÁLAM", LEXICON) == "40170 SETIA ALAM"
    assert repair("CAFÉ", Lexicon({"CAFÉ": 3}, accented=True)) == "CAFÉ"  # labels with accents keep them


def test_what_the_lexicon_does_not_know_is_left_as_read():
    assert repair("L4-17 (B), UP2-01", LEXICON) == "L4-17 (B), UP2-01"  # codes, not slips
    assert repair("MELAWATI MALL", LEXICON) == "MELAWATI MALL"
    assert repair("SANYUSTATIONERYSHOP", None) == "SANYUSTATIONERYSHOP"
    assert repair("SANYUSTATIONERYSHOP", Lexicon()) == "SANYUSTATIONERYSHOP"


def test_a_text_value_takes_whole_marked_words_across_adjacent_lines():
    view = page_view(response(element(0, "Ban NO 15 JALAN", 0.05), element(1, "BANDAR RAWANG.O", 0.09),
                              element(2, "TEL 03-1234", 0.13)))
    assert view.texts == ["BAN NO 15 JALAN", "BANDAR RAWANG.O", "TEL 03-1234"]
    patchy = {0: "....+#.##.#+#+#", 1: "##############+", 2: "..........."}  # '#' 0.9, '+' 0.45, '.' 0.05
    probs = [np.array([[{"#": 0.9, "+": 0.45, ".": 0.05}[ch]] for ch in patchy[i]], dtype=np.float32)
             for i in range(3)]
    found = decode(view, probs, [FieldSpec("address", "text")], LEXICON)["address"]
    assert found is not None and found.value == "NO 15 JALAN BANDAR RAWANG.O"


def test_the_model_file_carries_its_lexicon(tmp_path):
    path = save_model(tmp_path / "m.pt", FieldTagger(2), [FieldSpec("company", "text"), FieldSpec("total", "amount")],
                      {}, LEXICON)
    assert load_model(path).lexicon == LEXICON
    torch.manual_seed(0)
    assert load_model(save_model(tmp_path / "bare.pt", FieldTagger(1), [FieldSpec("company", "text")], {})).lexicon \
        is None
