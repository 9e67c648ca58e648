"""OCR of page images with the PP-OCR models bundled in rapidocr_onnxruntime.

One engine per process, built on first use (loading takes ~0.5 s). Detection runs on our
own torch-prepared batch (see ``preprocess``); recognition reuses RapidOCR's recogniser
but asks for character positions, because the Chinese/English model rarely emits spaces
("INVOICENo:2024-0113"): words are re-split where the line crop has a blank ink gap wider
than a space between two recognised characters.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from upstage_assets.local_engine.geometry import Box, Word
from upstage_assets.local_engine.preprocess import DETECTION_MAX_SIDE, ink_profile, prepare_detection_batch

# Recogniser input (channels, height, minimum width); the model accepts any size.
RECOGNITION_INPUT = (3, 44, 48)
# Recognitions below this mean character confidence are noise (rapidocr's own default).
MIN_LINE_CONFIDENCE = 0.5
# A blank gap of at least this share of the line crop's height separates two words
# (tuned on SROIE receipts: word recall 0.50 -> 0.75 against glued output).
SPACE_GAP_HEIGHT = 0.30
# Columns with at most this share of the crop height in ink count as blank.
BLANK_INK_SHARE = 0.04

Point = tuple[float, float]

_engine: Any = None
_engine_lock = threading.Lock()
_run_lock = threading.Lock()


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


def get_engine() -> Any:
    """The process-wide RapidOCR instance (thread-safe lazy construction)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                from rapidocr_onnxruntime import RapidOCR

                threads = int(os.environ.get("UPSTAGE_OCR_THREADS", "-1"))
                engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)
                # One line per call at height 44, padded to no fixed width: padding short
                # crops to 320 px and batching mixed widths was a third of recognition time
                # (SROIE receipts, one core: 2.2 -> 1.5 s/page at the same word recall).
                engine.text_rec.rec_image_shape = list(RECOGNITION_INPUT)
                engine.text_rec.rec_batch_num = 1
                _engine = engine
    return _engine


def ocr_images(images: list[np.ndarray], device: str | None = None) -> list[list[OcrWord]]:
    """Words (text, pixel quad, confidence) of each BGR uint8 image, in reading-friendly order."""
    if not images:
        return []
    engine = get_engine()
    # RapidOCR's detector and recogniser keep per-call state; one call at a time.
    with _run_lock:
        boxes_per_image = _detect(engine, images, device)
        return [_recognise(engine, image, boxes) for image, boxes in zip(images, boxes_per_image, strict=True)]


def _detect(engine: Any, images: list[np.ndarray], device: str | None) -> list[list[np.ndarray]]:
    detector = engine.text_det
    prepared = prepare_detection_batch(images, device=device, max_side=DETECTION_MAX_SIDE)
    preds = detector.infer(prepared.batch)[0]
    results: list[list[np.ndarray]] = []
    for index, image in enumerate(images):
        height, width = prepared.resized_sizes[index]
        pred = preds[index:index + 1, :, :height, :width]
        boxes, _scores = detector.postprocess_op(pred, image.shape[:2])
        if len(boxes) == 0:
            results.append([])
            continue
        boxes = detector.filter_tag_det_res(boxes, image.shape[:2])
        results.append(list(engine.sorted_boxes(boxes)) if len(boxes) else [])
    return results


def _recognise(engine: Any, image: np.ndarray, boxes: list[np.ndarray]) -> list[OcrWord]:
    if not boxes:
        return []
    crops = engine.get_crop_img_list(image, boxes)
    recognised, _elapsed = engine.text_rec(crops, return_word_box=True)
    words: list[OcrWord] = []
    for box, crop, result in zip(boxes, crops, recognised, strict=True):
        text, confidence, info = result[0], float(result[1]), result[2]
        if not text.strip() or confidence < MIN_LINE_CONFIDENCE:
            continue
        quad = tuple((float(x), float(y)) for x, y in box)
        rotated = crop.shape[0] != int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
        if rotated or not isinstance(info, list | tuple):
            words.append(OcrWord(text.strip(), quad, confidence))  # type: ignore[arg-type]
            continue
        words.extend(_split_words(crop, quad, info))  # type: ignore[arg-type]
    return words


def _split_words(crop: np.ndarray, quad: tuple[Point, Point, Point, Point], info: list[Any]) -> list[OcrWord]:
    """Cut one recognised line into words at blank ink gaps between characters."""
    col_num, word_list, word_col_list, _states, confs = info
    chars = [c for word in word_list for c in word]
    cols = [c for word in word_col_list for c in word]
    if not chars or col_num <= 0:
        return []
    if len(confs) != len(chars):
        confs = [float(np.mean(confs))] * len(chars)
    crop_h, crop_w = crop.shape[:2]
    centers = [(col + 0.5) * crop_w / col_num for col in cols]
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


def layout_words(words: list[OcrWord], width: float, height: float) -> list[Word]:
    """Words for layout, rotated about the page centre to undo a scan's skew.

    Without this, a label and its value at opposite ends of a line on a page scanned
    1.5 degrees off no longer share a baseline.
    """
    angle = skew_degrees(words)
    if abs(angle) < 0.2 or abs(angle) > 20:
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
