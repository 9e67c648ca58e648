"""Which marked neighbouring lines join a text value: per field, calibrated on the held-back split."""

from __future__ import annotations

import torch
from torch import nn

from upstage_assets.local_engine.learned.catalog import LearnedModel, load_model, save_model
from upstage_assets.local_engine.learned.dataset import FieldSpec
from upstage_assets.local_engine.learned.features import page_view
from upstage_assets.local_engine.learned.fit import calibrate_join_shares
from upstage_assets.local_engine.learned.model import FieldTagger
from upstage_assets.local_engine.learned.predict import decode, tag
from upstage_assets_tests.local_engine.learned.pages import element, response

FIELDS = [FieldSpec("company", "text"), FieldSpec("address", "text")]
PAGE = response(element(0, "SIZZLING GRILL", 0.02), element(1, "DOVE HOLDINGS SDN BHD", 0.06),
                element(2, "NO 12, JALAN BESAR,", 0.10), element(3, "53100 KUALA LUMPUR", 0.14),
                element(4, "TOTAL 19.08", 0.30))
# Per line: how strongly the model marks it as (company, address), as a trained tagger does on such a
# page: the brand above the legal name weakly, the name strongly; an address's lines about alike.
MARKS = [(0.55, 0.0), (0.95, 0.0), (0.0, 0.7), (0.0, 0.9), (0.0, 0.0)]
LABELS = {"company": "DOVE HOLDINGS SDN BHD", "address": "NO 12, JALAN BESAR, 53100 KUALA LUMPUR"}


class FixedMarks(nn.Module):
    """Stands in for a trained tagger: the logits of MARKS for every character of each line (the
    real tagger's training is covered by the fit and pseudo-label tests; here only decoding is)."""

    def __init__(self, marks: list[tuple[float, float]] = MARKS):
        super().__init__()
        self.marks = marks

    def forward(self, chars: torch.Tensor, geometry: torch.Tensor, line_counts: torch.Tensor) -> torch.Tensor:
        docs, lines, width = chars.shape
        probs = torch.zeros(docs, lines, width, len(FIELDS))
        for line, marks in enumerate(self.marks[:lines]):
            probs[:, line, :, :] = torch.tensor(marks)
        return torch.logit(probs.clamp(1e-4, 1 - 1e-4))


def _values(join_shares: dict[str, float] | None, page: dict = PAGE,
            marks: list[tuple[float, float]] = MARKS) -> dict[str, str | None]:
    view = page_view(page)
    found = decode(view, tag(FixedMarks(marks), [view], torch.device("cpu"))[0], FIELDS, None,  # type: ignore[arg-type]
                   join_shares)
    return {name: prediction.value if prediction else None for name, prediction in found.items()}


def test_a_neighbour_marked_more_weakly_than_the_value_stays_out_only_where_the_field_says_so():
    assert _values(None) == {"company": "SIZZLING GRILL DOVE HOLDINGS SDN BHD",
                             "address": "NO 12, JALAN BESAR, 53100 KUALA LUMPUR"}
    assert _values({"company": 0.8}) == LABELS
    # The same share for the address would cut its first line off: it is the field's own setting.
    assert _values({"company": 0.8, "address": 0.8})["address"] == "53100 KUALA LUMPUR"


def test_the_value_is_anchored_on_its_most_confident_line_not_its_longest():
    """A long trading name marked weakly above the short name the labels give: the long line has
    more marked characters, but the value is the line the model is surest of."""
    page = response(element(0, "GOLDEN DRAGON RESTAURANT AND BAR", 0.02), element(1, "GD CAFE SDN BHD", 0.06),
                    element(2, "TOTAL 19.08", 0.30))
    assert _values({"company": 0.9}, page, [(0.55, 0.0), (0.7, 0.0), (0.0, 0.0)])["company"] == "GD CAFE SDN BHD"


def test_calibration_picks_each_fields_share_on_held_back_pages_and_the_model_file_keeps_it(tmp_path):
    model = LearnedModel(FixedMarks(), FIELDS)  # type: ignore[arg-type]
    view = page_view(PAGE)
    shares = calibrate_join_shares(model, [view], [LABELS])
    assert shares["address"] == 0.0  # ties keep the default: any marked line joins
    assert 0.55 / 0.95 < shares["company"] <= 0.9
    assert calibrate_join_shares(model, [], []) == {}

    tagger = FieldTagger(len(FIELDS))
    path = save_model(tmp_path / "m.pt", tagger, FIELDS, {"decoding": {"join_shares": shares}})
    assert load_model(path).join_shares == shares
    assert LearnedModel(tagger, FIELDS).join_shares == {}  # a model from before calibration
