"""Where ``columns.line_pieces`` cuts a line: a gutter is an unbroken white stripe.

Found on OCR'd receipts: a centred shop name ("MR. D.I.Y. (M) SDN BHD") was cut at a word
space 0.7 line heights wide because item lines further down the page had gaps over the same
stretch, and the two halves were then read in the wrong order. Lines printed across the
stretch (the address below the name) separate the name from those gaps.
"""

from __future__ import annotations

from upstage_assets.local_engine.columns import line_pieces
from upstage_assets.local_engine.geometry import Box, Line, Word

HEIGHT = 10.0


def _line(top: float, *groups: tuple[float, str]) -> Line:
    """Words laid left to right from each group's x, 6 units per character, one space apart."""
    words = []
    for x, text in groups:
        for token in text.split():
            width = 6.0 * len(token)
            words.append(Word(token, Box(x, top, x + width, top + HEIGHT), font_size=HEIGHT))
            x += width + 4.0
    return Line(words)


def _texts(pieces: list[Line]) -> list[str]:
    return [piece.text for piece in pieces]


def _page() -> list[Line]:
    """A receipt: a centred name with a 7-unit (0.7 line height) word space, the address printed
    across it, then item lines whose two columns leave the same stretch empty (8 units: narrow
    gaps, a gutter only because nine of them line up)."""
    name = _line(20.0, (100.0, "MR. D.I. Y."), (169.0, "(M) SDN BHD"))
    assert name.gaps()[2] == 7.0  # between the two halves: wider than 0.6 line heights
    address = _line(32.0, (40.0, "LOT 1851-A & 1851-B, JALAN KPB 6, KAWASAN"))
    items = [_line(60.0 + 12 * i, (66.0, "BIG SOAP BAR PACK"), (170.0, "TWO FOR ONE")) for i in range(9)]
    assert items[0].gaps()[3] == 8.0 and items[0].words[3].box.x1 == 162.0  # the name's stretch, 162-169
    return [name, address, *items]


def test_a_name_is_not_cut_at_gaps_that_a_crossing_line_separates_it_from() -> None:
    pieces = line_pieces(_page())
    assert "MR. D.I. Y. (M) SDN BHD" in _texts(pieces)


def test_a_stripe_of_aligned_gaps_still_cuts_its_own_lines() -> None:
    pieces = line_pieces(_page())
    texts = _texts(pieces)
    assert texts.count("BIG SOAP BAR PACK") == 9 and texts.count("TWO FOR ONE") == 9
