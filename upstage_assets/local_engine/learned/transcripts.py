"""A Document Parse response built from a corpus's line transcripts instead of OCR.

Corpora in the SROIE layout carry ``boxes/<id>.csv``: one text line per row with its pixel
corners. Running those lines through the engine's own word grouping and layout (the code
OCR output goes through) gives a parse with the same structure as the pipeline's, without
the 1-3 s of OCR per page: the fast way to build a training set, at the price of cleaner
text than OCR reads (training adds OCR-like noise to make up for it, see ``dataset``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from PIL import Image

from upstage_assets.local_engine.geometry import OCR_CENTRE_BAND, PageContent, group_into_lines
from upstage_assets.local_engine.layout import layout_document
from upstage_assets.local_engine.ocr import OcrWord, layout_words
from upstage_assets.local_engine.render import document_content, element_content


def transcript_words(rows: list[list[str]]) -> list[OcrWord]:
    """Words of each transcript line, their boxes cut from the line's box by character offset."""
    words: list[OcrWord] = []
    for row in rows:
        if len(row) < 9:
            continue
        try:
            xs = [float(v) for v in row[0:8:2]]
            ys = [float(v) for v in row[1:8:2]]
        except ValueError:
            continue
        text = ",".join(row[8:]).strip()
        if not text:
            continue
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        width = max(1, len(text))
        offset = 0
        for token in text.split():
            start = text.find(token, offset)
            offset = start + len(token)
            wx0 = x0 + (x1 - x0) * start / width
            wx1 = x0 + (x1 - x0) * offset / width
            words.append(OcrWord(token, ((wx0, y0), (wx1, y0), (wx1, y1), (wx0, y1)), 1.0))
    return words


def parse_from_transcripts(boxes_csv: Path, image_bytes: bytes) -> dict[str, Any]:
    """A text-only Document Parse response (elements with relative coordinates) for one page."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        width, height = image.size
    with boxes_csv.open(newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.reader(fh))
    words = transcript_words(rows)
    page = PageContent(number=1, width=float(width), height=float(height),
                       lines=group_into_lines(layout_words(words, width, height), centre_band=OCR_CENTRE_BAND),
                       source="ocr")
    formats = ("text",)
    elements = []
    contents = []
    for element_id, element in enumerate(layout_document([page])):
        content = element_content(element, element_id, formats)
        contents.append(content)
        elements.append({"id": element_id, "category": element.category, "page": element.page,
                         "content": content, "coordinates": element.relative_coordinates()})
    return {"api": "2.0", "model": "transcripts", "content": document_content(contents, formats),
            "elements": elements, "usage": {"pages": 1}}
