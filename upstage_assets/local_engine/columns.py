"""Where a visual line is cut: column gutters, but never between a label and its value.

A wide gap on one baseline is either a gutter between two columns of running text or
the space between a label and its value ("TOTAL      9.00"). A gap is a gutter when the
text on both sides reads as running text (three or more words, the left side not a
"label:", a "label:" on the right counted together with its value), or when a neighbouring line has a gutter at the same place; all other gaps
stay inside the line and read as two spaces.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable

from upstage_assets.local_engine.geometry import Line, split_line_at_gaps

# Gaps at least this many line heights wide separate columns on their own (text both sides).
FRAGMENT_GAP_HEIGHTS = 1.5
# Narrower gaps (LaTeX's 10 pt column gap is under one line height) separate columns only
# where the gaps of several nearby lines line up into one white stripe: a page-region gutter.
# The stripe must be unbroken: a line printed across it without a gap there (a centred shop
# name between the item columns of a receipt, a full-width title) ends it, so gaps further
# up or down the page are not counted as this line's gutter.
NARROW_GUTTER_HEIGHTS = 0.6
ALIGNED_LINES = 3
ALIGN_WINDOW_LINES = 20
# A side with at least this many words reads as running text.
RUNNING_TEXT_WORDS = 3
# Lines within this many line heights of each other share their gutters.
NEIGHBOUR_HEIGHTS = 2.5


def line_pieces(lines: list[Line]) -> list[Line]:
    """Lines cut at their column gutters, each piece a Line of its own."""
    fragments = [split_line_at_gaps(line, NARROW_GUTTER_HEIGHTS) if len(line.words) > 1 else [line]
                 for line in lines]
    # spans[i][k]: the stretch of the page that gap k of line i leaves empty (x from, x to).
    spans = [[_gap_span(frags[k], frags[k + 1]) for k in range(len(frags) - 1)] for frags in fragments]
    aligned = _aligned_counter(lines, spans)
    cuts = [[_is_gutter(frags, k) and (_width(spans[i][k]) >= FRAGMENT_GAP_HEIGHTS * line.box.height
                                       or aligned(i, k) >= ALIGNED_LINES)
             for k in range(len(frags) - 1)] for i, (line, frags) in enumerate(zip(lines, fragments, strict=True))]
    _propagate(lines, spans, cuts, aligned)
    pieces: list[Line] = []
    for line, frags, line_cuts in zip(lines, fragments, cuts, strict=True):
        if not any(line_cuts):
            pieces.append(line)  # uncut (most lines): the line itself, its derived values kept
            continue
        group = [frags[0]]
        for cut, fragment in zip(line_cuts, frags[1:], strict=True):
            if cut:
                pieces.append(_joined(group))
                group = [fragment]
            else:
                group.append(fragment)
        pieces.append(_joined(group))
    return pieces


def _joined(fragments: list[Line]) -> Line:
    """One Line of consecutive fragments of a line (a lone fragment is already one)."""
    if len(fragments) == 1:
        return fragments[0]
    return Line([word for fragment in fragments for word in fragment.words])


def _is_label(fragment: Line) -> bool:
    return fragment.text.rstrip().endswith(":")


def _is_gutter(fragments: list[Line], k: int) -> bool:
    """Both sides of gap k read as text; a "label:" on the right counts with its value."""
    left, right = fragments[k], fragments[k + 1]
    if _is_label(left):
        return False
    right_words = len(right.words)
    if _is_label(right) and k + 2 < len(fragments):
        right_words += len(fragments[k + 2].words)
    return len(left.words) >= RUNNING_TEXT_WORDS and right_words >= RUNNING_TEXT_WORDS


def _width(span: tuple[float, float]) -> float:
    return span[1] - span[0]


def _spans_line_up(start: float, end: float, other_start: float, other_end: float) -> bool:
    """The two empty stretches overlap by more than half the shorter one."""
    return min(end, other_end) - max(start, other_start) > 0.5 * min(end - start, other_end - other_start)


def _aligned_counter(lines: list[Line], spans: list[list[tuple[float, float]]]) -> Callable[[int, int], int]:
    """``aligned(index, k)``: how many lines above and below have a gap over the same stretch of
    the page as gap k of line ``index``, counted outwards until a line crosses the stretch with
    no gap there (each answer computed once: both passes ask). Lines come top down."""
    known: dict[tuple[int, int], int] = {}

    def lined_up(j: int, start: float, end: float, width: float) -> bool:
        for other_start, other_end in spans[j]:  # _spans_line_up, inlined: forms have many gaps
            overlap = (end if end < other_end else other_end) - (start if start > other_start else other_start)
            if overlap > 0.5 * (width if width < other_end - other_start else other_end - other_start):
                return True
        return False

    def aligned(index: int, k: int) -> int:
        if (index, k) in known:
            return known[index, k]
        start, end = spans[index][k]
        width = end - start
        count = 0
        for step in (-1, 1):
            j = index + step
            while 0 <= j < len(spans) and abs(j - index) <= ALIGN_WINDOW_LINES:
                if lined_up(j, start, end, width):
                    count += 1
                elif lines[j].box.x0 < start and lines[j].box.x1 > end:
                    break  # printed across the stretch: the stripe ends here
                j += step
        known[index, k] = count
        return count

    return aligned


def _gap_span(left: Line, right: Line) -> tuple[float, float]:
    return left.box.x1, right.box.x0


def _propagate(lines: list[Line], spans: list[list[tuple[float, float]]], cuts: list[list[bool]],
               aligned: Callable[[int, int], int]) -> None:
    """Cut a gap that lines up with a gutter cut in a nearby line, until nothing changes.

    A narrow gap (a justified word space) needs its own evidence too: gaps of other lines
    lined up with it; otherwise a paragraph's short last line would pass the cut on to
    every word space above it.
    """
    narrow = [[_width(span) < FRAGMENT_GAP_HEIGHTS * line.box.height and aligned(i, k) < ALIGNED_LINES
               for k, span in enumerate(spans[i])] for i, line in enumerate(lines)]
    neighbours = _neighbours(lines)
    changed = True
    while changed:
        changed = False
        for i in range(len(lines)):
            for k, is_cut in enumerate(cuts[i]):
                if is_cut or narrow[i][k]:
                    continue
                start, end = spans[i][k]
                if _neighbour_has_gutter(start, end, neighbours(i), spans, cuts):
                    cuts[i][k] = True
                    changed = True


def _neighbours(lines: list[Line]) -> Callable[[int], list[int]]:
    """``neighbours(i)``: the other lines whose centre lies within NEIGHBOUR_HEIGHTS of line i's
    height from its centre (found by bisection on the sorted centres, computed once per line)."""
    centres = [line.box.y_center for line in lines]
    order = sorted(range(len(lines)), key=centres.__getitem__)
    sorted_centres = [centres[j] for j in order]
    known: dict[int, list[int]] = {}

    def neighbours(index: int) -> list[int]:
        if index not in known:
            centre, reach = centres[index], NEIGHBOUR_HEIGHTS * lines[index].box.height
            slack = 1e-6 * (abs(centre) + reach + 1.0)  # the exact test below decides at the edges
            low = bisect_left(sorted_centres, centre - reach - slack)
            high = bisect_right(sorted_centres, centre + reach + slack)
            known[index] = sorted(j for j in order[low:high]
                                  if j != index and not abs(centres[j] - centre) > reach)
        return known[index]

    return neighbours


def _neighbour_has_gutter(start: float, end: float, neighbours: list[int], spans: list[list[tuple[float, float]]],
                          cuts: list[list[bool]]) -> bool:
    for j in neighbours:
        for k, is_cut in enumerate(cuts[j]):
            if is_cut and _spans_line_up(start, end, *spans[j][k]):
                return True
    return False
