"""Make a born-digital PDF look scanned: rasterise, grey, tilt, noise, lossy compression."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from PIL import Image


def render_page(pdf_path: Path, dpi: int) -> Image.Image:
    document = pdfium.PdfDocument(str(pdf_path))
    try:
        bitmap = document[0].render(scale=dpi / 72)
        return bitmap.to_pil().convert("L")
    finally:
        document.close()


def degrade(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Slight rotation (within 1.5 degrees), paper tint, sensor noise."""
    angle = float(rng.uniform(-1.5, 1.5))
    tilted = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    pixels = np.asarray(tilted, dtype=np.float64) * 0.88 + 18 + rng.normal(0, 9, tilted.size[::-1])
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")


def write_scan(pdf_path: Path, out_path: Path, rng: np.random.Generator, dpi: int = 150) -> None:
    """Write ``out_path`` (.jpg with JPEG artefacts, or .png) from the first page of ``pdf_path``."""
    image = degrade(render_page(pdf_path, dpi), rng)
    if out_path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(out_path, format="JPEG", quality=int(rng.integers(55, 80)))
    else:
        image.save(out_path, format="PNG", optimize=False)
