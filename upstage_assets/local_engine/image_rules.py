"""The drawn rules of a scanned page: horizontal and vertical strokes found in its pixels.

A scan has no drawing operators, so a ruled table's lines are found on the image itself:
a morphological opening with a long thin kernel keeps only ink runs far longer than any
glyph stroke, and each connected run that is thin across becomes a rule box in pixels.
``ruled_tables`` then builds the same cell grid from them as from a born-digital page's
paths. Positions of one drawn line (a stroke a few pixels thick, slightly uneven on a
scan) are snapped to one coordinate and segments are lengthened by that thickness, so the
grid logic's tolerances, written for points, hold on pixels too.
"""

from __future__ import annotations

import cv2
import numpy as np

from upstage_assets.local_engine.geometry import Box

# A rule is at least this share of the page's shorter side long (and MIN_RULE_PIXELS):
# glyph strokes, underlines of one word and dashes stay below it.
MIN_RULE_SHARE = 1 / 30
MIN_RULE_PIXELS = 24
# A rule is at most this share of the page's shorter side thick (shaded bars are not rules).
MAX_THICKNESS_SHARE = 1 / 150
MIN_MAX_THICKNESS = 4
# Skew left after deskewing (OCR word boxes measure it roughly): a rule's box may lean this much.
RESIDUAL_SLOPE = 0.01
# Pages with more candidate runs than this are drawings or halftones: no rules.
MAX_RULES = 2000


def image_rule_boxes(image: np.ndarray, skew_degrees: float = 0.0) -> list[Box]:
    """Thin boxes (pixels, top-left origin) of the image's long horizontal and vertical rules.

    ``skew_degrees`` is the skew ``ocr.layout_words`` takes out of the words: the image is
    turned the same way first, so rules and words share one frame.
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    if skew_degrees:
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), skew_degrees, 1.0)
        gray = cv2.warpAffine(gray, turn, (width, height), flags=cv2.INTER_LINEAR, borderValue=255)
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    shorter = min(height, width)
    length = max(MIN_RULE_PIXELS, int(shorter * MIN_RULE_SHARE))
    thickest = max(MIN_MAX_THICKNESS, int(shorter * MAX_THICKNESS_SHARE))
    horizontal = _runs(ink, (length, 1), thickest, across=3)
    vertical = _runs(ink, (1, length), thickest, across=2)
    if len(horizontal) + len(vertical) > MAX_RULES:
        return []
    return _snapped(horizontal, vertical)


def _runs(ink: np.ndarray, kernel_size: tuple[int, int], thickest: int, across: int) -> list[Box]:
    """Boxes of the long runs of ink along one direction (``across``: the stats column of thickness).

    Thickness is the run's ink over its length (a rule left a fraction of a degree off
    by deskewing has a taller box than its stroke); the box may lean by RESIDUAL_SLOPE more.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, kernel_size)
    opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, kernel)
    count, _, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    boxes = []
    for x, y, w, h, area in stats[1:count]:
        length, extent = (w, h) if across == 3 else (h, w)
        if area / max(1, length) <= thickest and extent <= thickest + RESIDUAL_SLOPE * length:
            boxes.append(Box(float(x), float(y), float(x + w), float(y + h)))
    return boxes


def _snapped(horizontal: list[Box], vertical: list[Box]) -> list[Box]:
    """Each drawn line as runs at one position, their ends moved onto the rules they meet.

    A stroke a few pixels thick is one position (its runs' mean), and a run that stops
    within a stroke's thickness of a crossing rule ends exactly on it: a scan's joints are
    uneven, and the grid logic's tolerances are a few units, written for points.
    """
    ys = _clusters(horizontal, vertical=False)
    xs = _clusters(vertical, vertical=True)
    reach = max([b.height for b in horizontal] + [b.width for b in vertical] + [1.0]) + 2.0
    out: list[Box] = []
    for at, runs in ys:
        for b in runs:
            x0, x1 = _onto(b.x0, [x for x, _ in xs], reach), _onto(b.x1, [x for x, _ in xs], reach)
            out.append(Box(x0, at - 0.5, x1, at + 0.5))
    for at, runs in xs:
        for b in runs:
            y0, y1 = _onto(b.y0, [y for y, _ in ys], reach), _onto(b.y1, [y for y, _ in ys], reach)
            out.append(Box(at - 0.5, y0, at + 0.5, y1))
    return out


def _clusters(boxes: list[Box], *, vertical: bool) -> list[tuple[float, list[Box]]]:
    """Runs grouped by position across (within a stroke's thickness), with the group's mean position."""
    def position(box: Box) -> float:
        return (box.x0 + box.x1) / 2 if vertical else (box.y0 + box.y1) / 2

    groups: list[list[Box]] = []
    for box in sorted(boxes, key=position):
        thickness = box.width if vertical else box.height
        if groups and position(box) - position(groups[-1][-1]) <= max(2.0, thickness):
            groups[-1].append(box)
        else:
            groups.append([box])
    return [(float(np.mean([position(b) for b in group])), group) for group in groups]


def _onto(end: float, positions: list[float], reach: float) -> float:
    """``end`` moved onto the nearest crossing rule's position within ``reach``."""
    nearest = min(positions, key=lambda p: abs(p - end), default=None)
    return nearest if nearest is not None and abs(nearest - end) <= reach else end
