"""The drawn rules of a born-digital PDF page: straight horizontal and vertical strokes.

Ruled tables are drawn as lines (a stroked path of two points), as thin filled
rectangles (Word, LaTeX's \\hline) or as stroked or shaded cell rectangles. Each comes
back as a thin box on the displayed page; ``ruled_tables`` builds cell grids from them.
The raw object API is used (no Python wrapper per object) and paths with many segments
(drawings, charts, glyph outlines) are skipped, so a drawing-heavy page stays cheap.
"""

from __future__ import annotations

from typing import Any, Protocol

import pypdfium2.raw as pdfium_c

from upstage_assets.local_engine.geometry import Box
from upstage_assets.local_engine.pdfium_calls import ffi, lib

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


def rule_boxes(paths: list[Any], frame: _Frame) -> list[Box]:
    """Thin boxes (displayed page, top-left origin) of the horizontal and vertical rules among
    a page's path objects (cffi handles, see ``pdfium_calls``; content order)."""
    rules: list[Box] = []
    bounds = ffi.new("float[4]")
    left, bottom, right, top = bounds, bounds + 1, bounds + 2, bounds + 3
    modes = ffi.new("int[2]")
    fill_mode, stroke = modes, modes + 1
    get_bounds, get_draw_mode = lib.FPDFPageObj_GetBounds, lib.FPDFPath_GetDrawMode
    for obj in paths:
        if not get_bounds(obj, left, bottom, right, top):
            continue
        box = frame.box(bounds[0], bounds[1], bounds[2], bounds[3])
        if max(box.width, box.height) < MIN_RULE_LENGTH:
            continue  # bullets, glyph outlines, dots: too small to hold a rule
        if not get_draw_mode(obj, fill_mode, stroke):
            continue
        if not (modes[1] or (modes[0] != 0 and not _near_white_fill(obj))):
            continue
        if _is_rule(box):
            rules.append(box)
        else:
            rules.extend(_path_edges(obj, frame))
    return rules


def _is_rule(box: Box) -> bool:
    thin, long = sorted((box.width, box.height))
    return thin <= MAX_RULE_THICKNESS and long >= MIN_RULE_LENGTH


def _near_white_fill(obj: Any) -> bool:
    rgba = ffi.new("unsigned int[4]")
    if not lib.FPDFPageObj_GetFillColor(obj, rgba, rgba + 1, rgba + 2, rgba + 3):
        return True
    return rgba[3] == 0 or min(rgba[0], rgba[1], rgba[2]) >= _NEAR_WHITE


def _path_edges(obj: Any, frame: _Frame) -> list[Box]:
    """Axis-aligned straight segments of a path (a rectangle's four sides), as thin boxes.

    Four pdfium calls per segment: the calls and the output buffer are bound once per path.
    """
    count = lib.FPDFPath_CountSegments(obj)
    if count < 2 or count > MAX_PATH_SEGMENTS:
        return []
    matrix = ffi.new("FS_MATRIX *")
    if not lib.FPDFPageObj_GetMatrix(obj, matrix):
        return []
    a, b, c, d, e, f = matrix.a, matrix.b, matrix.c, matrix.d, matrix.e, matrix.f
    xy = ffi.new("float[2]")
    x_ref, y_ref = xy, xy + 1
    get_segment, get_point = lib.FPDFPath_GetPathSegment, lib.FPDFPathSegment_GetPoint
    get_type, get_close = lib.FPDFPathSegment_GetType, lib.FPDFPathSegment_GetClose
    edges: list[Box] = []
    start = previous = (0.0, 0.0)
    for index in range(count):
        segment = get_segment(obj, index)
        if not get_point(segment, x_ref, y_ref):
            return []
        x, y = xy[0], xy[1]
        point = (a * x + c * y + e, b * x + d * y + f)
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
