"""The drawn rules of a born-digital PDF page: straight horizontal and vertical strokes.

Ruled tables are drawn as lines (a stroked path of two points), as thin filled
rectangles (Word, LaTeX's \\hline) or as stroked or shaded cell rectangles. Each comes
back as a thin box on the displayed page; ``ruled_tables`` builds cell grids from them.
The raw object API is used (no Python wrapper per object) and paths with many segments
(drawings, charts, glyph outlines) are skipped, so a drawing-heavy page stays cheap.
"""

from __future__ import annotations

import ctypes
from typing import Protocol

import pypdfium2.raw as pdfium_c

from upstage_assets.local_engine.geometry import Box

# A stroke this thin (points) is a rule; longer than MIN_RULE_LENGTH.
MAX_RULE_THICKNESS = 2.5
MIN_RULE_LENGTH = 4.0
# Paths with more segments than this are drawings, not cell borders.
MAX_PATH_SEGMENTS = 64
# Fills lighter than this on every channel (white page backgrounds) draw no visible edge.
_NEAR_WHITE = 245
_LINETO, _MOVETO = pdfium_c.FPDF_SEGMENT_LINETO, pdfium_c.FPDF_SEGMENT_MOVETO


class _Frame(Protocol):
    def box(self, left: float, bottom: float, right: float, top: float) -> Box: ...


def rule_boxes(paths: list[object], frame: _Frame) -> list[Box]:
    """Thin boxes (displayed page, top-left origin) of the horizontal and vertical rules among
    a page's path objects (raw handles, content order)."""
    rules: list[Box] = []
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    bounds = [ctypes.byref(v) for v in (left, bottom, right, top)]
    fill_mode, stroke = ctypes.c_int(), ctypes.c_int()
    fill_ref, stroke_ref = ctypes.byref(fill_mode), ctypes.byref(stroke)
    for obj in paths:
        if not pdfium_c.FPDFPageObj_GetBounds(obj, *bounds):
            continue
        box = frame.box(left.value, bottom.value, right.value, top.value)
        if max(box.width, box.height) < MIN_RULE_LENGTH:
            continue  # bullets, glyph outlines, dots: too small to hold a rule
        if not pdfium_c.FPDFPath_GetDrawMode(obj, fill_ref, stroke_ref):
            continue
        if not (stroke.value or (fill_mode.value != 0 and not _near_white_fill(obj))):
            continue
        if _is_rule(box):
            rules.append(box)
        else:
            rules.extend(_path_edges(obj, frame))
    return rules


def _is_rule(box: Box) -> bool:
    thin, long = sorted((box.width, box.height))
    return thin <= MAX_RULE_THICKNESS and long >= MIN_RULE_LENGTH


def _near_white_fill(obj: object) -> bool:
    r, g, b, a = (ctypes.c_uint() for _ in range(4))
    if not pdfium_c.FPDFPageObj_GetFillColor(obj, *(ctypes.byref(v) for v in (r, g, b, a))):
        return True
    return a.value == 0 or min(r.value, g.value, b.value) >= _NEAR_WHITE


def _path_edges(obj: object, frame: _Frame) -> list[Box]:
    """Axis-aligned straight segments of a path (a rectangle's four sides), as thin boxes.

    Four pdfium calls per segment: the calls and references are bound once per path.
    """
    count = pdfium_c.FPDFPath_CountSegments(obj)
    if count < 2 or count > MAX_PATH_SEGMENTS:
        return []
    matrix = pdfium_c.FS_MATRIX()
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, ctypes.byref(matrix)):
        return []
    a, b, c, d, e, f = matrix.a, matrix.b, matrix.c, matrix.d, matrix.e, matrix.f
    x, y = ctypes.c_float(), ctypes.c_float()
    x_ref, y_ref = ctypes.byref(x), ctypes.byref(y)
    get_segment, get_point = pdfium_c.FPDFPath_GetPathSegment, pdfium_c.FPDFPathSegment_GetPoint
    get_type, get_close = pdfium_c.FPDFPathSegment_GetType, pdfium_c.FPDFPathSegment_GetClose
    edges: list[Box] = []
    start = previous = (0.0, 0.0)
    for index in range(count):
        segment = get_segment(obj, index)
        if not get_point(segment, x_ref, y_ref):
            return []
        point = (a * x.value + c * y.value + e, b * x.value + d * y.value + f)
        kind = get_type(segment)
        if kind == _MOVETO:
            start = point
        elif kind == _LINETO:
            _add_edge(edges, frame, previous, point)
        previous = point
        if get_close(segment):
            _add_edge(edges, frame, previous, start)
            previous = start
    return edges


def _add_edge(edges: list[Box], frame: _Frame, p: tuple[float, float], q: tuple[float, float]) -> None:
    dx, dy = abs(p[0] - q[0]), abs(p[1] - q[1])
    if min(dx, dy) > 0.5 or max(dx, dy) < MIN_RULE_LENGTH:
        return  # slanted or short: not a table rule
    edges.append(frame.box(min(p[0], q[0]), min(p[1], q[1]), max(p[0], q[0]), max(p[1], q[1])))
