"""OCR of page images with the PP-OCR models (see ``ocr_models``), run by the project itself.

Detection (``ocr_detect``) finds text lines; each line is cropped upright and recognised one
at a time (padding short crops to a shared width and batching mixed widths cost a third of
recognition time on receipts). The CTC decoder keeps each character's column, because the
models rarely emit spaces between English words ("INVOICENo:2024-0113"): words are re-split
where the line crop has a blank ink gap wider than a space between two recognised characters.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from upstage_assets.local_engine import korean, scripts
from upstage_assets.local_engine.geometry import Box, Word
from upstage_assets.local_engine.ocr_detect import crop_line, detect_lines
from upstage_assets.local_engine.ocr_models import OcrModels, load_models
from upstage_assets.local_engine.preprocess import ink_profile

# Narrowest recogniser input; crops are resized to the model's height and their own width.
MIN_RECOGNITION_WIDTH = 48
# Recognitions below this mean character confidence are noise.
MIN_LINE_CONFIDENCE = 0.5
# A blank gap of at least this share of the line crop's height separates two words
# (tuned on SROIE receipts: word recall 0.50 -> 0.75 against glued output).
SPACE_GAP_HEIGHT = 0.30
# Columns with at most this share of the crop height in ink count as blank.
BLANK_INK_SHARE = 0.04

Point = tuple[float, float]

_engines: dict[str, OcrModels] = {}
_engine_lock = threading.Lock()


@dataclass
class OcrWord:
    text: str
    quad: tuple[Point, Point, Point, Point]  # TL, TR, BR, BL in image pixels
    confidence: float

    def box(self) -> Box:
        xs = [p[0] for p in self.quad]
        ys = [p[1] for p in self.quad]
        return Box(min(xs), min(ys), max(xs), max(ys))

    def as_word(self) -> Word:
        box = self.box()
        return Word(text=self.text, box=box, font_size=box.height, confidence=self.confidence)


@dataclass(frozen=True)
class RecognisedLine:
    """CTC output of one crop: characters, the output column of each, their confidences."""

    chars: list[str]
    columns: list[int]
    confidences: list[float]
    column_count: int  # output columns, spread over ``input_width`` pixels of the model's input
    input_width: int  # the crop's width after resizing to the model's height

    @property
    def text(self) -> str:
        return "".join(self.chars)

    @property
    def confidence(self) -> float:
        return float(np.mean(self.confidences)) if self.confidences else 0.0


def get_engine(device: str | None = None) -> OcrModels:
    """The process-wide models for a device (built on first use, ~0.5 s)."""
    key = device or "cpu"
    if key not in _engines:
        with _engine_lock:
            if key not in _engines:
                _engines[key] = load_models(device)
    return _engines[key]


def ocr_images(images: list[np.ndarray], device: str | None = None) -> list[list[OcrWord]]:
    """Words (text, pixel quad, confidence) of each BGR uint8 image, in reading-friendly order."""
    if not images:
        return []
    engine = get_engine(device)
    with engine.lock:
        boxes_per_image = detect_lines(engine.detector, images)
        return [_recognise(engine, image, boxes) for image, boxes in zip(images, boxes_per_image, strict=True)]


def recognise_crop(engine: OcrModels, crop: np.ndarray) -> RecognisedLine:
    """Greedy CTC decoding of one upright line crop (BGR uint8)."""
    height = engine.recognition_height
    width = max(MIN_RECOGNITION_WIDTH, int(math.ceil(height * crop.shape[1] / max(1, crop.shape[0]))))
    resized = cv2.resize(crop, (width, height)).astype(np.float32)
    batch = ((resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5)[np.newaxis]
    name = engine.recogniser.get_inputs()[0].name
    probabilities = engine.recogniser.run(None, {name: batch})[0][0]  # (columns, classes)
    best = probabilities.argmax(axis=1)
    scores = probabilities.max(axis=1)
    chars: list[str] = []
    columns: list[int] = []
    confidences: list[float] = []
    previous = 0
    for column, index in enumerate(best):
        if index != 0 and index != previous and index < len(engine.charset):
            chars.append(engine.charset[index])
            columns.append(column)
            confidences.append(float(scores[column]))
        previous = index
    return RecognisedLine(chars, columns, confidences, len(best), width)


DIRECTION_INPUT = (48, 192)  # the direction classifier's input (height, width)


def upside_down_scores(image: np.ndarray, quads: list[np.ndarray], device: str | None = None) -> list[float]:
    """Per text line (quad in image pixels), the direction classifier's probability that it reads upside down."""
    if not quads:
        return []
    engine = get_engine(device)
    height, width = DIRECTION_INPUT
    batch = np.zeros((len(quads), 3, height, width), dtype=np.float32)
    for index, quad in enumerate(quads):
        crop = crop_line(image, np.asarray(quad, dtype=np.float32))
        resized_w = min(width, max(1, int(math.ceil(height * crop.shape[1] / max(1, crop.shape[0])))))
        resized = cv2.resize(crop, (resized_w, height)).astype(np.float32)
        batch[index, :, :, :resized_w] = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    with engine.lock:
        name = engine.direction.get_inputs()[0].name
        scores = engine.direction.run(None, {name: batch})[0]
    return [float(row[1]) for row in scores]


def _recognise(engine: OcrModels, image: np.ndarray, boxes: list[np.ndarray]) -> list[OcrWord]:
    read = [(box, crop, recognise_crop(engine, crop)) for box, crop in ((b, crop_line(image, b)) for b in boxes)]
    suspects = [i for i, (_, _, line) in enumerate(read) if korean.is_suspect(line.text, line.confidence)]
    hangul: dict[int, list[korean.LineWord]] = {}
    if korean.should_read_korean(len(suspects), len(read)):
        upright = [i for i in suspects if not _turned(read[i][0], read[i][1])]
        for index, line_words in zip(upright, korean.read_lines([read[i][1] for i in upright]), strict=True):
            if korean.is_korean_line(line_words):
                hangul[index] = line_words
    unreadable = {i for i, (_, crop, line) in enumerate(read) if i not in hangul
                  and scripts.is_unreadable(line.text, line.confidences, crop.shape[1], crop.shape[0])}
    if len(unreadable) < scripts.MIN_UNREADABLE_LINES:
        unreadable = set()
    words: list[OcrWord] = []
    for index, (box, crop, line) in enumerate(read):
        quad = tuple((float(x), float(y)) for x, y in box)
        if index in hangul:
            words.extend(OcrWord(text, _sub_quad(quad, start, end), confidence)  # type: ignore[arg-type]
                         for text, confidence, start, end in hangul[index])
            continue
        if index in unreadable:  # a script no bundled model reads: one marker, never garbage
            words.append(OcrWord(scripts.UNREADABLE, quad, line.confidence))  # type: ignore[arg-type]
            continue
        text = line.text
        if not text.strip() or line.confidence < MIN_LINE_CONFIDENCE:
            continue
        if _turned(box, crop):
            words.append(OcrWord(text.strip(), quad, line.confidence))  # type: ignore[arg-type]
            continue
        words.extend(_split_words(crop, quad, line))  # type: ignore[arg-type]
    return words


def _turned(box: np.ndarray, crop: np.ndarray) -> bool:
    """Whether ``crop_line`` turned the crop of a tall (vertical-text) box."""
    return crop.shape[0] != int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))


def _split_words(crop: np.ndarray, quad: tuple[Point, Point, Point, Point], line: RecognisedLine) -> list[OcrWord]:
    """Cut one recognised line into words at blank ink gaps between characters."""
    chars, confs = line.chars, line.confidences
    if not chars or line.column_count <= 0:
        return []
    crop_h, crop_w = crop.shape[:2]
    # An output column spans input_width / column_count pixels of the resized crop.
    pixels_per_column = crop_w / line.column_count
    centers = [(col + 0.5) * pixels_per_column for col in line.columns]
    profile = ink_profile(crop)
    blank = profile <= max(1, int(BLANK_INK_SHARE * crop_h))
    ink_columns = np.flatnonzero(~blank)
    first_ink = int(ink_columns[0]) if len(ink_columns) else 0
    last_ink = int(ink_columns[-1]) + 1 if len(ink_columns) else crop_w
    runs = _blank_runs(blank, first_ink, last_ink)

    spans: list[tuple[int, int]] = []  # (first char index, last char index + 1)
    cuts: list[tuple[int, int]] = []  # the blank run separating span k from span k+1
    start = 0
    for i in range(len(chars) - 1):
        found = _widest_run_between(runs, centers[i], centers[i + 1])
        if chars[i + 1] == " " or chars[i] == " ":
            gap = found or (int(centers[i]), int(centers[i + 1]))
        elif found is None or found[1] - found[0] < SPACE_GAP_HEIGHT * crop_h:
            continue
        else:
            gap = found
        spans.append((start, i + 1))
        cuts.append(gap)
        start = i + 1
    spans.append((start, len(chars)))

    words: list[OcrWord] = []
    for k, (a, b) in enumerate(spans):
        text = "".join(chars[a:b]).strip()
        if not text:
            continue
        x0 = first_ink if k == 0 else cuts[k - 1][1]
        x1 = last_ink if k == len(spans) - 1 else cuts[k][0]
        if x1 <= x0:
            x0, x1 = int(centers[a]), int(centers[b - 1]) + 1
        word_conf = float(np.mean(confs[a:b]))
        words.append(OcrWord(text, _sub_quad(quad, x0 / crop_w, x1 / crop_w), word_conf))
    return words


def _blank_runs(blank: np.ndarray, start: int, stop: int) -> list[tuple[int, int]]:
    """Maximal runs of blank columns strictly inside the inked span [start, stop)."""
    runs: list[tuple[int, int]] = []
    run_start: int | None = None
    for x in range(start, stop):
        if blank[x]:
            if run_start is None:
                run_start = x
        elif run_start is not None:
            runs.append((run_start, x))
            run_start = None
    return runs


def _widest_run_between(runs: list[tuple[int, int]], left: float, right: float) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    for run in runs:
        if run[1] <= left or run[0] >= right:
            continue
        clipped = (max(run[0], int(left)), min(run[1], int(right) + 1))
        if best is None or clipped[1] - clipped[0] > best[1] - best[0]:
            best = clipped
    return best


def _sub_quad(quad: tuple[Point, Point, Point, Point], f0: float, f1: float) -> tuple[Point, Point, Point, Point]:
    """The part of a text-line quad between fractions f0 and f1 of its length."""
    tl, tr, br, bl = quad

    def along(p: Point, q: Point, f: float) -> Point:
        return (p[0] + f * (q[0] - p[0]), p[1] + f * (q[1] - p[1]))

    return (along(tl, tr, f0), along(tl, tr, f1), along(bl, br, f1), along(bl, br, f0))


def skew_degrees(words: list[OcrWord]) -> float:
    """The page's skew: the length-weighted median angle of the words' top edges."""
    angles: list[tuple[float, float]] = []
    for word in words:
        (x0, y0), (x1, y1) = word.quad[0], word.quad[1]
        length = float(np.hypot(x1 - x0, y1 - y0))
        if length > 0 and x1 > x0:
            angles.append((float(np.degrees(np.arctan2(y1 - y0, x1 - x0))), length))
    if not angles:
        return 0.0
    angles.sort()
    half, running = sum(weight for _, weight in angles) / 2, 0.0
    for angle, weight in angles:
        running += weight
        if running >= half:
            return angle
    return angles[-1][0]


# Skew smaller than this is left alone; larger is not skew but a turned page or a diagonal stamp.
DESKEW_DEGREES = (0.2, 20.0)


def deskew_angle(words: list[OcrWord]) -> float:
    """The skew ``layout_words`` takes out of the words (0.0 when it leaves them as they are)."""
    angle = skew_degrees(words)
    return angle if DESKEW_DEGREES[0] <= abs(angle) <= DESKEW_DEGREES[1] else 0.0


def layout_words(words: list[OcrWord], width: float, height: float) -> list[Word]:
    """Words for layout, rotated about the page centre to undo a scan's skew.

    Without this, a label and its value at opposite ends of a line on a page scanned
    1.5 degrees off no longer share a baseline.
    """
    angle = deskew_angle(words)
    if not angle:
        return [w.as_word() for w in words]
    radians = np.radians(-angle)
    cos, sin = float(np.cos(radians)), float(np.sin(radians))
    cx, cy = width / 2, height / 2

    def turn(point: Point) -> Point:
        dx, dy = point[0] - cx, point[1] - cy
        return (cx + dx * cos - dy * sin, cy + dx * sin + dy * cos)

    straightened = [OcrWord(w.text, (turn(w.quad[0]), turn(w.quad[1]), turn(w.quad[2]), turn(w.quad[3])),
                            w.confidence) for w in words]
    return [w.as_word() for w in straightened]
