"""Matching labelled values back to the characters of a page (the model's training targets)."""

from upstage_assets.local_engine.learned.dataset import FieldSpec, make_example
from upstage_assets.local_engine.learned.features import page_view, visual_order
from upstage_assets.local_engine.learned.targets import (
    amount_spans,
    approximate_match,
    date_spans,
    date_tokens,
    text_spans,
)
from upstage_assets_tests.local_engine.learned.pages import RECEIPT, element, response


def test_dates_are_found_by_calendar_day_even_behind_other_numbers():
    lines = ["ORD #50 -REG #19- 18/01/2018 10:27:03", "DATE\t25/12/2018"]
    assert [(s.line, lines[s.line][s.start:s.end]) for s in date_spans(lines, "18/01/2018")] == \
        [(0, "18/01/2018")]
    assert [lines[s.line][s.start:s.end] for s in date_spans(lines, "2018-12-25")] == ["25/12/2018"]
    assert any(token == "18/01/2018" for _, _, token in date_tokens(lines[0]))


def test_amounts_prefer_tokens_written_with_decimals():
    lines = ["19/10/2018 10:00", "QTY 10", "TOTAL\tRM\t10.00", "CASH\t10.00"]
    spans = amount_spans(lines, "10.00")
    assert [(s.line, lines[s.line][s.start:s.end]) for s in spans] == [(2, "10.00"), (3, "10.00")]


def test_text_values_span_lines_and_survive_ocr_slips():
    lines = ["INDAH GIFT & HOME DECO", "27,JALAN DEDAP 13", "TANAN JOHOR JAYA,", "TEL: 07-3507405"]
    spans = text_spans(lines, "27, JALAN DEDAP 13, TAMAN JOHOR JAYA,")
    assert [(s.line, lines[s.line][s.start:s.end]) for s in spans] == [(1, "27,JALAN DEDAP 13"),
                                                                       (2, "TANAN JOHOR JAYA")]
    assert text_spans(lines, "SOMETHING ELSE ENTIRELY") == []


def test_approximate_match_finds_the_closest_substring():
    distance, start, end = approximate_match("taman", "xxtanamxxtamanyy")
    assert (distance, start, end) == (0, 9, 14)


def test_visual_order_puts_spatial_neighbours_together():
    parsed = response(element(0, "SHOP SDN BHD\nNO 1 JALAN A", 0.05), element(1, "TEL 123", 0.11, x0=0.6, x1=0.9),
                      element(2, "53100 KUALA LUMPUR", 0.11))
    view = page_view(parsed)
    assert view.texts == ["SHOP SDN BHD", "NO 1 JALAN A", "53100 KUALA LUMPUR", "TEL 123"]
    assert len(visual_order([])) == 0


def test_examples_mask_fields_that_are_unknown_or_not_on_the_page():
    fields = [FieldSpec("company", "text"), FieldSpec("date", "date"), FieldSpec("total", "amount"),
              FieldSpec("address", "text")]
    example = make_example(page_view(RECEIPT), {"company": "KEDAI RUNCIT MAJU SDN BHD", "date": "03/04/2019",
                                                "total": "19.08", "address": "NOT PRINTED ANYWHERE AT ALL"}, fields)
    assert example.known.tolist() == [1.0, 1.0, 1.0, 0.0]
    marked = {fields[f].name: "".join(example.view.texts[i][c] for i, line in enumerate(example.targets)
                                      for c in range(len(line)) if line[c, f])
              for f in range(3)}
    assert marked == {"company": "KEDAI RUNCIT MAJU SDN BHD", "date": "03/04/2019", "total": "19.08"}
