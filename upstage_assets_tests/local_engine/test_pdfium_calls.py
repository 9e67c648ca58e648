"""The cffi bindings (``pdfium_calls``) answer exactly what pypdfium2's ctypes bindings answer.

Both call the one loaded pdfium; a wrong declaration (an argument or result type) would
read garbage silently, so every bound call is compared on a real page: each character's
code, loose box, font size and weight, and each page object's type, bounds, draw mode,
fill colour, matrix and path segments (form objects: their count call only).
"""

from __future__ import annotations

import ctypes

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from upstage_assets.local_engine.pdfium_calls import ffi, handle, lib
from upstage_assets_tests.local_engine import samples


def _ruled_pdf() -> bytes:
    """Text, a stroked line and a filled, stroked rectangle: the objects the engine reads for rules."""
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(60, 8, "Cell one")
    pdf.line(10, 30, 150, 30)
    pdf.set_fill_color(200, 220, 255)
    pdf.rect(10, 40, 80, 20, style="FD")
    return bytes(pdf.output())


def test_text_calls_match_pypdfium2() -> None:
    pdf = pdfium.PdfDocument(samples.report_pdf())
    try:
        page = pdf[0]
        textpage = page.get_textpage()
        raw, text_handle = textpage.raw, handle(textpage.raw)
        count = pdfium_c.FPDFText_CountChars(raw)
        assert count > 100 and lib.FPDFText_CountChars(text_handle) == count
        ctypes_rect, cffi_rect = pdfium_c.FS_RECTF(), ffi.new("FS_RECTF *")
        for i in range(count):
            assert lib.FPDFText_GetUnicode(text_handle, i) == pdfium_c.FPDFText_GetUnicode(raw, i)
            found = pdfium_c.FPDFText_GetLooseCharBox(raw, i, ctypes.byref(ctypes_rect))
            assert lib.FPDFText_GetLooseCharBox(text_handle, i, cffi_rect) == found
            if found:
                assert (cffi_rect.left, cffi_rect.top, cffi_rect.right, cffi_rect.bottom) == \
                    (ctypes_rect.left, ctypes_rect.top, ctypes_rect.right, ctypes_rect.bottom)
            assert lib.FPDFText_GetFontSize(text_handle, i) == pdfium_c.FPDFText_GetFontSize(raw, i)
            assert lib.FPDFText_GetFontWeight(text_handle, i) == pdfium_c.FPDFText_GetFontWeight(raw, i)
        textpage.close()
        page.close()
    finally:
        pdf.close()


def _ctypes_floats(call, obj, n: int) -> tuple[int, list[float]]:
    values = [ctypes.c_float() for _ in range(n)]
    return call(obj, *(ctypes.byref(v) for v in values)), [v.value for v in values]


def test_object_and_path_calls_match_pypdfium2() -> None:
    pdf = pdfium.PdfDocument(_ruled_pdf())
    try:
        page = pdf[0]
        raw_page, page_handle = page.raw, handle(page.raw)
        count = pdfium_c.FPDFPage_CountObjects(raw_page)
        assert lib.FPDFPage_CountObjects(page_handle) == count
        kinds = set()
        for i in range(count):
            obj, fast = pdfium_c.FPDFPage_GetObject(raw_page, i), lib.FPDFPage_GetObject(page_handle, i)
            assert int(ffi.cast("uintptr_t", fast)) == ctypes.cast(obj, ctypes.c_void_p).value
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            kinds.add(kind)
            assert lib.FPDFPageObj_GetType(fast) == kind
            assert lib.FPDFFormObj_CountObjects(fast) == pdfium_c.FPDFFormObj_CountObjects(obj)  # -1: not a form
            bounds = ffi.new("float[4]")
            ok = lib.FPDFPageObj_GetBounds(fast, bounds, bounds + 1, bounds + 2, bounds + 3)
            assert (ok, list(bounds)) == _ctypes_floats(pdfium_c.FPDFPageObj_GetBounds, obj, 4)
            if kind != pdfium_c.FPDF_PAGEOBJ_PATH:
                continue
            modes, fill, stroke = ffi.new("int[2]"), ctypes.c_int(), ctypes.c_int()
            assert lib.FPDFPath_GetDrawMode(fast, modes, modes + 1) == \
                pdfium_c.FPDFPath_GetDrawMode(obj, ctypes.byref(fill), ctypes.byref(stroke))
            assert list(modes) == [fill.value, stroke.value]
            rgba, channels = ffi.new("unsigned int[4]"), [ctypes.c_uint() for _ in range(4)]
            assert lib.FPDFPageObj_GetFillColor(fast, rgba, rgba + 1, rgba + 2, rgba + 3) == \
                pdfium_c.FPDFPageObj_GetFillColor(obj, *(ctypes.byref(v) for v in channels))
            assert list(rgba) == [v.value for v in channels]
            matrix, ctypes_matrix = ffi.new("FS_MATRIX *"), pdfium_c.FS_MATRIX()
            assert lib.FPDFPageObj_GetMatrix(fast, matrix) == \
                pdfium_c.FPDFPageObj_GetMatrix(obj, ctypes.byref(ctypes_matrix))
            assert [getattr(matrix, f) for f in "abcdef"] == [getattr(ctypes_matrix, f) for f in "abcdef"]
            segments = pdfium_c.FPDFPath_CountSegments(obj)
            assert lib.FPDFPath_CountSegments(fast) == segments >= 2
            for k in range(segments):
                segment, fast_segment = pdfium_c.FPDFPath_GetPathSegment(obj, k), lib.FPDFPath_GetPathSegment(fast, k)
                xy = ffi.new("float[2]")
                assert (lib.FPDFPathSegment_GetPoint(fast_segment, xy, xy + 1), list(xy)) == \
                    _ctypes_floats(pdfium_c.FPDFPathSegment_GetPoint, segment, 2)
                assert lib.FPDFPathSegment_GetType(fast_segment) == pdfium_c.FPDFPathSegment_GetType(segment)
                assert lib.FPDFPathSegment_GetClose(fast_segment) == pdfium_c.FPDFPathSegment_GetClose(segment)
        assert {pdfium_c.FPDF_PAGEOBJ_TEXT, pdfium_c.FPDF_PAGEOBJ_PATH} <= kinds
        page.close()
    finally:
        pdf.close()
