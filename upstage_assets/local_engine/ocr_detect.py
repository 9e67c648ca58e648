"""Text-line boxes from the detector's probability map (differentiable binarisation, "DB").

The detector scores each pixel as text; thresholding gives blobs, each blob's minimum-area
rectangle is kept if its mean score is high enough, then grown by a margin proportional to
area / perimeter (the network predicts shrunk text regions). The constants are the PP-OCR
defaults the models were trained with.
"""

from __future__ import annotations

import cv2
import numpy as np

from upstage_assets.local_engine.preprocess import DETECTION_MAX_SIDE, prepare_detection_batch

PIXEL_THRESHOLD = 0.3  # a pixel is text above this probability
BOX_THRESHOLD = 0.5  # a blob is a text line when its mean probability is above this
UNCLIP_RATIO = 1.6  # margin = area * ratio / perimeter
MIN_SIDE = 3  # blobs thinner than this (pixels of the map) are noise
MAX_CANDIDATES = 1000
SAME_LINE_PIXELS = 10  # boxes whose tops differ by less are ordered left to right


def detect_lines(detector: object, images: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Per image, the text-line quads (4x2 float32, TL TR BR BL, image pixels) in reading order."""
    prepared = prepare_detection_batch(images, max_side=DETECTION_MAX_SIDE)
    name = detector.get_inputs()[0].name  # type: ignore[attr-defined]
    maps = detector.run(None, {name: prepared.batch})[0]  # type: ignore[attr-defined]
    results = []
    for index, image in enumerate(images):
        height, width = prepared.resized_sizes[index]
        probability = maps[index, 0, :height, :width]
        boxes = boxes_from_map(probability, image.shape[0], image.shape[1])
        results.append(reading_order(boxes))
    return results


def boxes_from_map(probability: np.ndarray, image_height: int, image_width: int) -> list[np.ndarray]:
    mask = cv2.dilate((probability > PIXEL_THRESHOLD).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(np.asarray(mask) * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    map_h, map_w = probability.shape
    boxes: list[np.ndarray] = []
    for contour in contours[:MAX_CANDIDATES]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < MIN_SIDE:
            continue
        if _mean_score(probability, _corners(rect)) < BOX_THRESHOLD:
            continue
        rect = _unclip(rect)
        if min(rect[1]) < MIN_SIDE + 2:
            continue
        box = _corners(rect)
        box[:, 0] = np.clip(np.round(box[:, 0] / map_w * image_width), 0, image_width)
        box[:, 1] = np.clip(np.round(box[:, 1] / map_h * image_height), 0, image_height)
        box = _clockwise(box)
        if np.linalg.norm(box[0] - box[1]) <= 3 or np.linalg.norm(box[0] - box[3]) <= 3:
            continue
        boxes.append(box.astype(np.float32))
    return boxes


def _corners(rect: tuple) -> np.ndarray:
    return np.asarray(cv2.boxPoints(rect), dtype=np.float32)


def _unclip(rect: tuple) -> tuple:
    """Grow a rectangle on every side by area * ratio / perimeter."""
    (cx, cy), (w, h), angle = rect
    distance = w * h * UNCLIP_RATIO / (2 * (w + h))
    return (cx, cy), (w + 2 * distance, h + 2 * distance), angle


def _mean_score(probability: np.ndarray, box: np.ndarray) -> float:
    height, width = probability.shape
    x0 = int(np.clip(np.floor(box[:, 0].min()), 0, width - 1))
    x1 = int(np.clip(np.ceil(box[:, 0].max()), 0, width - 1))
    y0 = int(np.clip(np.floor(box[:, 1].min()), 0, height - 1))
    y1 = int(np.clip(np.ceil(box[:, 1].max()), 0, height - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = box - np.array([x0, y0], dtype=np.float32)
    cv2.fillPoly(mask, [shifted.reshape(-1, 2).astype(np.int32)], 1)
    return float(cv2.mean(probability[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _clockwise(box: np.ndarray) -> np.ndarray:
    """TL, TR, BR, BL."""
    by_x = box[np.argsort(box[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def reading_order(boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Top to bottom, and left to right among boxes that start on the same line."""
    ordered = sorted(boxes, key=lambda b: (float(b[0][1]), float(b[0][0])))
    for i in range(len(ordered) - 1):
        for j in range(i, -1, -1):
            a, b = ordered[j], ordered[j + 1]
            if abs(float(b[0][1]) - float(a[0][1])) < SAME_LINE_PIXELS and b[0][0] < a[0][0]:
                ordered[j], ordered[j + 1] = b, a
            else:
                break
    return ordered


def crop_line(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The quad's pixels warped upright; tall crops (vertical text) are turned to lie flat."""
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    crop = cv2.warpPerspective(image, matrix, (max(1, width), max(1, height)), borderMode=cv2.BORDER_REPLICATE,
                               flags=cv2.INTER_CUBIC)
    if crop.shape[0] / max(1, crop.shape[1]) >= 1.5:
        crop = np.rot90(crop)
    return crop
