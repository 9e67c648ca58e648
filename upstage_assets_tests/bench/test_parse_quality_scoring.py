"""The scoring of bench/parse_quality.py: what counts as present, absent, in order, a table neighbour.

The corpus itself lives outside the repository, so only the scoring is tested here.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import parse_quality  # noqa: E402


def _table(cell: str, **neighbours: str) -> dict:
    return {"kind": "table", "cell": cell, "neighbours": neighbours}


def test_text_is_compared_with_markup_quotes_and_spacing_folded() -> None:
    output = "# Title\n\nIt is \u201cquoted\u201d \u2013 and\nbroken over **lines**."
    assert parse_quality.passes(output, {"kind": "text", "text": 'It is "quoted" - and broken over lines.'})
    assert not parse_quality.passes(output, {"kind": "text", "text": "not there"})
    assert parse_quality.passes(output, {"kind": "absent", "text": "Page 1 of 2"})
    assert parse_quality.passes(output, {"kind": "order", "before": "Title", "after": "quoted"})
    assert not parse_quality.passes(output, {"kind": "order", "before": "quoted", "after": "Title"})


def test_a_less_than_sign_in_maths_is_text_not_the_start_of_a_tag() -> None:
    """Only tags are markup: '<[^>]+>' once deleted everything from 'x < y' to a later '> 0'."""
    output = "If x < y then\n\nMetrische R\u00e4ume sind hausdorffsch, wegen d(x, y) > 0.\n\n<p id='3'>Done</p>"
    assert parse_quality.passes(output, {"kind": "text", "text": "Metrische R\u00e4ume sind hausdorffsch, wegen"})
    assert parse_quality.passes(output, {"kind": "text", "text": "If x < y then"})
    assert parse_quality.passes(output, {"kind": "order", "before": "d(x, y) > 0.", "after": "Done"})
    assert "id=" not in parse_quality.normalise(output)


def test_html_table_spans_are_expanded_for_neighbours() -> None:
    html = ("<table><tr><td></td><td>Indonesia</td><td>Germany</td><td>Austria</td></tr>"
            "<tr><td>Continent</td><td>Asia</td><td colspan='2'>Europe</td></tr>"
            "<tr><td>Capital</td><td>Jakarta</td><td>Berlin</td><td>Vienna</td></tr></table>")
    assert parse_quality.tables_of(html)[0][1] == ["Continent", "Asia", "Europe", "Europe"]
    assert parse_quality.passes(html, _table("Vienna", up="Europe", left="Berlin", top_heading="Austria"))
    assert parse_quality.passes(html, _table("Asia", right="Europe", left="Continent"))
    assert not parse_quality.passes(html, _table("Vienna", left="Jakarta"))


def test_markdown_pipe_tables_are_read() -> None:
    markdown = "text\n\n| Item | Qty |\n| --- | --- |\n| Pen\\|blue | 2 |\n\nafter"
    assert parse_quality.tables_of(markdown) == [[["Item", "Qty"], ["Pen|blue", "2"]]]
    assert parse_quality.passes(markdown, _table("2", left="Pen|blue", top_heading="Qty"))
