"""Page-image preprocessing for OCR, with OpenCV.

The text detector's cost grows with pixels, so every page is brought to one working
resolution (its longest side capped, sides rounded to the network's stride of 32),
normalised, and padded into a batch. OpenCV resizes a page in a few milliseconds on the
CPU, less than a round trip to a GPU would cost; the models themselves run on the GPU when
one is assigned (``ocr_models``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The detector's stride: input sides must be multiples of it.
STRIDE = 32
# Longest side the detector sees; text on an A4 page at 150 DPI stays above ~10 px here.
# (SROIE receipts, one core: 1280 -> 1120 kept word recall, 1024 lost 1.6 points.)
DETECTION_MAX_SIDE = 1120
# Receipts and forms scanned at low resolution are enlarged so small print survives.
DETECTION_MIN_SIDE = 640
# PDF pages are rasterised at this resolution for OCR (recognition crops come from it).
OCR_DPI = 150


@dataclass(frozen=True)
class DetectionInput:
    """One padded batch plus, per image, the size it was resized to before padding."""

    batch: np.ndarray  # (N, 3, H, W) float32, normalised to [-1, 1]
    resized_sizes: list[tuple[int, int]]  # (height, width) of each image inside the padding


def detection_scale(height: int, width: int, max_side: int = DETECTION_MAX_SIDE,
                    min_side: int = DETECTION_MIN_SIDE) -> float:
    """The factor that brings an image to the detector's working resolution."""
    longest = max(height, width)
    if longest > max_side:
        return max_side / longest
    if longest < min_side:
        return min_side / longest
    return 1.0


def _stride_size(value: float) -> int:
    return max(STRIDE, int(round(value / STRIDE)) * STRIDE)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area averaging when shrinking (no aliasing on fine print), bilinear when enlarging."""
    if (height, width) == image.shape[:2]:
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def prepare_detection_batch(images: list[np.ndarray], max_side: int = DETECTION_MAX_SIDE) -> DetectionInput:
    """Resize, normalise and pad BGR uint8 images (H, W, 3) into one detector batch."""
    if not images:
        raise ValueError("no images to prepare")
    sizes: list[tuple[int, int]] = []
    for image in images:
        height, width = image.shape[:2]
        scale = detection_scale(height, width, max_side=max_side)
        sizes.append((_stride_size(height * scale), _stride_size(width * scale)))
    pad_h = max(h for h, _ in sizes)
    pad_w = max(w for _, w in sizes)
    batch = np.zeros((len(images), 3, pad_h, pad_w), dtype=np.float32)
    for index, (image, (h, w)) in enumerate(zip(images, sizes, strict=True)):
        resized = resize(image, h, w).astype(np.float32)
        batch[index, :, :h, :w] = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    return DetectionInput(batch=batch, resized_sizes=sizes)


def to_bgr(rgb: np.ndarray) -> np.ndarray:
    """The PP-OCR models were trained on OpenCV's BGR channel order."""
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=-1)
    if rgb.shape[2] == 4:
        rgb = rgb[:, :, :3]
    return np.ascontiguousarray(rgb[:, :, ::-1])


def ink_profile(crop: np.ndarray) -> np.ndarray:
    """Per-column count of dark pixels in a text-line crop (BGR uint8): where the ink is."""
    gray = crop.mean(axis=2) if crop.ndim == 3 else crop.astype(np.float32)
    low, high = float(np.percentile(gray, 5)), float(np.percentile(gray, 95))
    if high - low < 24:  # no contrast: treat the crop as one blob of ink
        return np.ones(gray.shape[1], dtype=np.int32)
    middle = (low + high) / 2
    # Light text on a dark band: the background (the median) is dark, so ink is light.
    ink = gray > middle if float(np.median(gray)) < middle else gray < middle
    return ink.sum(axis=0).astype(np.int32)


# Above this resolution more pixels only cost time: pages are brought down to it.
MAX_SOURCE_DPI = 300
# Photos without a usable DPI are capped at this longest side.
MAX_SOURCE_SIDE = 3500


def normalise_page_image(rgb: np.ndarray, dpi: float | None) -> np.ndarray:
    """Downscale over-resolved scans and photos (RGB uint8) to a sensible working size."""
    height, width = rgb.shape[:2]
    scale = 1.0
    if dpi and dpi > MAX_SOURCE_DPI:
        scale = MAX_SOURCE_DPI / dpi
    scale = min(scale, MAX_SOURCE_SIDE / max(height, width))
    if scale >= 0.999:
        return rgb
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    return np.ascontiguousarray(resize(rgb, new_h, new_w))
