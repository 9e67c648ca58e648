"""OCR words grouped into lines: padded boxes of tightly printed rows stay apart, curved rows stay whole."""

from __future__ import annotations

from upstage_assets.local_engine.geometry import OCR_CENTRE_BAND, Box, Word, group_into_lines


def _word(text: str, x: float, y: float, height: float = 40.0) -> Word:
    return Word(text, Box(x, y, x + 12 * len(text), y + height), font_size=height)


def _texts(lines) -> list[str]:
    return [" ".join(w.text for w in line.words) for line in lines]


def _box_word(text: str, x0: float, y0: float, x1: float, y1: float) -> Word:
    return Word(text, Box(x0, y0, x1, y1), font_size=y1 - y0)


def test_padded_boxes_of_neighbouring_rows_stay_two_lines() -> None:
    # OCR boxes padded beyond the ink, 50 px tall for rows about 30 px apart, the lower row rising
    # to the right: its last word's box overlaps the row above by more than half.
    words = [_box_word("(SA0264195-T)", 300, 105, 450, 155),
             _box_word("NO.23", 190, 140, 260, 190), _box_word("TAMAN", 380, 135, 470, 185),
             _box_word("SENTOSA,", 480, 128, 600, 178)]
    assert _texts(group_into_lines(words, centre_band=OCR_CENTRE_BAND)) == ["(SA0264195-T)", "NO.23 TAMAN SENTOSA,"]
    # The text layer's rule (no band) lets the rising word join the row above.
    assert _texts(group_into_lines(words)) == ["(SA0264195-T) SENTOSA,", "NO.23 TAMAN"]


def test_a_curved_row_stays_one_line() -> None:
    # A photographed receipt: the baseline drifts 6 px per word, 36 px end to end.
    words = [_word(f"W{i}", 100 + 70 * i, 100 + 6 * i) for i in range(7)]
    assert _texts(group_into_lines(words, centre_band=OCR_CENTRE_BAND)) == [" ".join(f"W{i}" for i in range(7))]
