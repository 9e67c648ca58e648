"""Fixtures for the emulator tests: tiny generated documents and emulators on loopback."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import httpx
import pytest

from upstage_assets.emulator.server import EmulatorHandle, run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings

AUTH = {"Authorization": "Bearer up_test_key"}
FAST = {"async_queue_s": 0.05, "async_batch_s": 0.05}


def make_pdf(pages: int = 1, lines: tuple[str, ...] = ("INVOICE", "Invoice No: INV-001", "Total: 42.50")) -> bytes:
    """A born-digital PDF with a text layer on every page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=14)
    for page in range(1, pages + 1):
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 10, f"Page {page} of {pages}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def make_png(text: str = "HELLO 123", size: tuple[int, int] = (400, 120)) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=40)
    except TypeError:
        font = ImageFont.load_default()
    draw.text((10, 30), text, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def pdf_1page() -> bytes:
    return make_pdf(1)


@pytest.fixture(scope="session")
def png_image() -> bytes:
    return make_png()


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., EmulatorHandle]]:
    """Start emulators with given settings (fast async timers by default); all stop afterwards."""
    handles: list[EmulatorHandle] = []

    def start(**overrides: object) -> EmulatorHandle:
        handle = run_emulator_in_thread(EmulatorSettings(**{**FAST, **overrides}))  # type: ignore[arg-type]
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    """One shared default emulator per test module (fast timers, no limits, no faults)."""
    handle = run_emulator_in_thread(EmulatorSettings(**FAST))  # type: ignore[arg-type]
    yield handle
    handle.stop()


@pytest.fixture
def client(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=60.0) as http:
        yield http
