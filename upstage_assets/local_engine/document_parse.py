"""Document Parse and OCR responses from the local engine (contract sections 1 and 3).

Pages are read once (text layer or OCR, see ``page_sources``), laid out into elements
(``layout``) and rendered (``render``). Undecodable input raises the DocumentError
classes from ``upstage_assets.errors``, never a bare library exception.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from upstage_assets.errors import CorruptDocument, DocumentError
from upstage_assets.local_engine.layout import Element, layout_document
from upstage_assets.local_engine.page_sources import PageRead, page_image, read_pages
from upstage_assets.local_engine.render import MARKDOWN_LEAVES_OUT, document_content, element_content
from upstage_assets.local_engine.scripts import UNREADABLE, without_unreadable

LOCAL_PARSE_MODEL = "document-parse-local"
LOCAL_OCR_MODEL = "ocr-local"
OUTPUT_FORMATS = ("html", "markdown", "text")
OCR_MODES = ("auto", "force")


def parse_document(
    data: bytes,
    *,
    mime_type: str,
    ocr: str = "auto",
    output_formats: tuple[str, ...] = ("html", "markdown", "text"),
    coordinates: bool = True,
    base64_encoding: tuple[str, ...] = (),
    device: str | None = None,
    headers_footers_in_markdown: bool = False,
) -> dict[str, Any]:
    """Return a Document Parse response: api, model, content{html,markdown,text}, elements, usage.

    Running headers, footers and page numbers are ``header``/``footer`` elements; the
    document's Markdown leaves them out unless ``headers_footers_in_markdown``. An element
    with text lines in a script no bundled OCR model reads says ``unsupported_script: true``
    and leaves those lines out of its content (see ``scripts``).
    """
    if ocr not in OCR_MODES:
        raise ValueError(f"ocr must be one of {OCR_MODES}, not {ocr!r}")
    unknown = set(output_formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise ValueError(f"unknown output formats {sorted(unknown)}; choose from {OUTPUT_FORMATS}")
    formats = tuple(output_formats)
    pages = _read(data, mime_type, force_ocr=(ocr == "force"), device=device)
    elements = layout_document([page.content for page in pages])
    crops = _crops(data, mime_type, elements, set(base64_encoding)) if base64_encoding else {}

    contents: list[dict[str, str]] = []
    out_elements: list[dict[str, Any]] = []
    for element_id, element in enumerate(elements):
        unsupported = _take_out_unreadable(element)
        content = element_content(element, element_id, formats)
        contents.append(content)
        record: dict[str, Any] = {"id": element_id, "category": element.category, "page": element.page,
                                  "content": content}
        if unsupported:
            record["unsupported_script"] = True
        if coordinates:
            record["coordinates"] = element.relative_coordinates()
        if element_id in crops:
            record["base64_encoding"] = crops[element_id]
        out_elements.append(record)
    return {
        "api": "2.0",
        "model": LOCAL_PARSE_MODEL,
        "content": document_content(contents, formats, [e.category for e in elements],
                                    () if headers_footers_in_markdown else MARKDOWN_LEAVES_OUT),
        "elements": out_elements,
        "usage": {"pages": len(pages)},
    }


def ocr_document(data: bytes, *, mime_type: str, device: str | None = None) -> dict[str, Any]:
    """Return an OCR response (model=ocr): pixel vertices, pages[].words[], numBilledPages.

    Born-digital PDF pages answer from their text layer (exact, and 100x faster than
    OCR), in the pixel frame of the page rasterised at ``OCR_DPI``.
    """
    pages = _read(data, mime_type, force_ocr=False, device=device)
    out_pages: list[dict[str, Any]] = []
    all_confidences: list[float] = []
    for index, page in enumerate(pages):
        words = []
        readable = [word for word in page.pixel_words if word.text != UNREADABLE]
        for word_id, word in enumerate(readable):
            vertices = [{"x": int(round(x)), "y": int(round(y))} for x, y in word.quad]
            words.append({"id": word_id, "text": word.text, "confidence": round(word.confidence, 4),
                          "boundingBox": {"vertices": vertices}})
        confidences = [word.confidence for word in readable]
        all_confidences.extend(confidences)
        out_pages.append({
            "id": index,
            "confidence": round(float(np.mean(confidences)), 4) if confidences else 0.0,
            "height": page.pixel_height,
            "width": page.pixel_width,
            "text": "\n".join(text for text in without_unreadable([line.text for line in page.content.lines])[0]
                               if text),
            "words": words,
        })
    return {
        "apiVersion": "1.1",
        "confidence": round(float(np.mean(all_confidences)), 4) if all_confidences else 0.0,
        "metadata": {"pages": [{"height": p["height"], "page": p["id"] + 1, "width": p["width"]} for p in out_pages]},
        "mimeType": "multipart/form-data",
        "modelVersion": LOCAL_OCR_MODEL,
        "numBilledPages": len(out_pages),
        "stored": False,
        "text": "\n".join(p["text"] for p in out_pages),
        "pages": out_pages,
    }


def _take_out_unreadable(element: Element) -> bool:
    """Remove the unreadable-line markers from the element's text; True when it held any."""
    lines, found = without_unreadable(element.lines)
    if found:
        element.lines = [line for line in lines if line]
    if element.rows is not None:
        for index, row in enumerate(element.rows):
            cells, in_row = without_unreadable(row)
            element.rows[index] = cells
            found = found or in_row
    return found


def _read(data: bytes, mime_type: str, *, force_ocr: bool, device: str | None) -> list[PageRead]:
    """Read pages, turning any library failure on damaged bytes into a CorruptDocument."""
    try:
        return read_pages(data, mime_type, force_ocr=force_ocr, device=device)
    except DocumentError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise CorruptDocument(f"the document cannot be read ({type(exc).__name__}: {exc})") from None


def _crops(data: bytes, mime_type: str, elements: list[Element], categories: set[str]) -> dict[int, str]:
    """PNG crops (base64) of the elements whose category was asked for, one render per page."""
    wanted = [(i, e) for i, e in enumerate(elements) if e.category in categories]
    crops: dict[int, str] = {}
    images: dict[int, np.ndarray] = {}
    for element_id, element in wanted:
        if element.page not in images:
            images[element.page] = page_image(data, mime_type, element.page)
        image = images[element.page]
        height, width = image.shape[:2]
        corners = element.relative_coordinates()
        x0, y0 = int(corners[0]["x"] * width), int(corners[0]["y"] * height)
        x1, y1 = max(x0 + 1, int(np.ceil(corners[2]["x"] * width))), max(y0 + 1, int(np.ceil(corners[2]["y"] * height)))
        buffer = io.BytesIO()
        Image.fromarray(image[y0:y1, x0:x1]).save(buffer, format="PNG")
        crops[element_id] = base64.b64encode(buffer.getvalue()).decode("ascii")
    return crops
