"""Where a visual line is cut: column gutters, but never between a label and its value.

A wide gap on one baseline is either a gutter between two columns of running text or
the space between a label and its value ("TOTAL      9.00"). A gap is a gutter when the
text on both sides reads as running text (three or more words, the left side not a
"label:", a "label:" on the right counted together with its value), or when a neighbouring line has a gutter at the same place; all other gaps
stay inside the line and read as two spaces.
"""

from __future__ import annotations

from upstage_assets.local_engine.geometry import Line, split_line_at_gaps

# Gaps at least this many line heights wide separate columns on their own (text both sides).
FRAGMENT_GAP_HEIGHTS = 1.5
# Narrower gaps (LaTeX's 10 pt column gap is under one line height) separate columns only
# where the gaps of several nearby lines line up into one white stripe: a page-region gutter.
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
    cuts = [[_is_gutter(frags, k) and (_gap_width(frags, k) >= FRAGMENT_GAP_HEIGHTS * line.box.height
                                       or _aligned(i, k, fragments) >= ALIGNED_LINES)
             for k in range(len(frags) - 1)] for i, (line, frags) in enumerate(zip(lines, fragments, strict=True))]
    _propagate(lines, fragments, cuts)
    pieces: list[Line] = []
    for frags, line_cuts in zip(fragments, cuts, strict=True):
        words = list(frags[0].words)
        for cut, fragment in zip(line_cuts, frags[1:], strict=True):
            if cut:
                pieces.append(Line(words))
                words = list(fragment.words)
            else:
                words.extend(fragment.words)
        pieces.append(Line(words))
    return pieces


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


def _gap_width(fragments: list[Line], k: int) -> float:
    return fragments[k + 1].box.x0 - fragments[k].box.x1


def _aligned(index: int, k: int, fragments: list[list[Line]]) -> int:
    """How many nearby lines have a gap over the same stretch of the page as gap k of line ``index``."""
    start, end = _gap_span(fragments[index][k], fragments[index][k + 1])
    count = 0
    for j in range(max(0, index - ALIGN_WINDOW_LINES), min(len(fragments), index + ALIGN_WINDOW_LINES + 1)):
        if j == index:
            continue
        others = fragments[j]
        for m in range(len(others) - 1):
            other_start, other_end = _gap_span(others[m], others[m + 1])
            if min(end, other_end) - max(start, other_start) > 0.5 * min(end - start, other_end - other_start):
                count += 1
                break
    return count


def _gap_span(left: Line, right: Line) -> tuple[float, float]:
    return left.box.x1, right.box.x0


def _propagate(lines: list[Line], fragments: list[list[Line]], cuts: list[list[bool]]) -> None:
    """Cut a gap that lines up with a gutter cut in a nearby line, until nothing changes.

    A narrow gap (a justified word space) needs its own evidence too: gaps of other lines
    lined up with it; otherwise a paragraph's short last line would pass the cut on to
    every word space above it.
    """
    narrow = [[_gap_width(frags, k) < FRAGMENT_GAP_HEIGHTS * line.box.height
               and _aligned(i, k, fragments) < ALIGNED_LINES for k in range(len(frags) - 1)]
              for i, (line, frags) in enumerate(zip(lines, fragments, strict=True))]
    changed = True
    while changed:
        changed = False
        for i, line in enumerate(lines):
            for k, is_cut in enumerate(cuts[i]):
                if is_cut or narrow[i][k]:
                    continue
                start, end = _gap_span(fragments[i][k], fragments[i][k + 1])
                if _neighbour_has_gutter(i, line, start, end, lines, fragments, cuts):
                    cuts[i][k] = True
                    changed = True


def _neighbour_has_gutter(index: int, line: Line, start: float, end: float, lines: list[Line],
                          fragments: list[list[Line]], cuts: list[list[bool]]) -> bool:
    reach = NEIGHBOUR_HEIGHTS * line.box.height
    for j, other in enumerate(lines):
        if j == index or abs(other.box.y_center - line.box.y_center) > reach:
            continue
        for k, is_cut in enumerate(cuts[j]):
            if not is_cut:
                continue
            other_start, other_end = _gap_span(fragments[j][k], fragments[j][k + 1])
            overlap = min(end, other_end) - max(start, other_start)
            if overlap > 0.5 * min(end - start, other_end - other_start):
                return True
    return False
