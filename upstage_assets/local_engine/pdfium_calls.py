"""pdfium's per-character and per-object calls through cffi, into the library pypdfium2 loaded.

pypdfium2's ctypes bindings convert every argument on every call; for the calls made once
per character, word or path segment of every page that overhead was about a fifth of a
born-digital page's CPU. cffi calls the same functions of the same loaded library (the handle
pypdfium2 holds) for half the cost or less. Documents, pages and text pages are still opened and
closed through pypdfium2; ``handle`` turns their ``.raw`` into a pointer for ``lib``.
Only the functions declared below are bound; signatures follow pdfium's public headers.
"""

from __future__ import annotations

import ctypes
from typing import Any

import cffi
import pypdfium2_raw.bindings as _bindings

ffi = cffi.FFI()
ffi.cdef("""
typedef struct { float left; float top; float right; float bottom; } FS_RECTF;
typedef struct { float a; float b; float c; float d; float e; float f; } FS_MATRIX;
int FPDFText_CountChars(void* text_page);
unsigned int FPDFText_GetUnicode(void* text_page, int index);
int FPDFText_GetLooseCharBox(void* text_page, int index, FS_RECTF* rect);
double FPDFText_GetFontSize(void* text_page, int index);
int FPDFText_GetFontWeight(void* text_page, int index);
int FPDFPage_CountObjects(void* page);
void* FPDFPage_GetObject(void* page, int index);
int FPDFPageObj_GetType(void* page_object);
int FPDFFormObj_CountObjects(void* form_object);
void* FPDFFormObj_GetObject(void* form_object, unsigned long index);
int FPDFPageObj_GetBounds(void* page_object, float* left, float* bottom, float* right, float* top);
int FPDFPageObj_GetMatrix(void* page_object, FS_MATRIX* matrix);
int FPDFPageObj_GetFillColor(void* page_object, unsigned int* r, unsigned int* g, unsigned int* b,
                             unsigned int* a);
int FPDFPath_GetDrawMode(void* path, int* fillmode, int* stroke);
int FPDFPath_CountSegments(void* path);
void* FPDFPath_GetPathSegment(void* path, int index);
int FPDFPathSegment_GetPoint(void* segment, float* x, float* y);
int FPDFPathSegment_GetType(void* segment);
int FPDFPathSegment_GetClose(void* segment);
""")
# The very library (dlopen handle) pypdfium2's bindings loaded: one pdfium, one global state.
lib: Any = ffi.dlopen(ffi.cast("void *", _bindings._libs["pdfium"]._handle))


def handle(raw: object) -> Any:
    """A cffi pointer for a pypdfium2 raw handle (a ctypes pointer to a page, text page, object)."""
    return ffi.cast("void *", ctypes.cast(raw, ctypes.c_void_p).value or 0)  # type: ignore[arg-type]
