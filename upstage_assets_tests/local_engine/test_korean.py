"""Korean pages: lines the PP-OCR models cannot read are read by tesseract (kor), or refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from upstage_assets.errors import UnsupportedScript
from upstage_assets.local_engine import korean
from upstage_assets.local_engine.document_parse import ocr_document

# Upstage's cookbook sample (see corpus/korean/SOURCE.md): eight lines of Korean over a watermark.
WATERMARK = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "korean" / \
    "upstage_cookbook_ocr" / "images" / "water_mark.jpg"


def test_lines_are_suspect_when_empty_unsure_or_uncertain_chinese():
    assert korean.is_suspect("", 0.0) and korean.is_suspect("ARUO.,U", 0.61)
    assert korean.is_suspect("：号130-31早", 0.9)  # Hangul read as Chinese, not quite sure
    assert not korean.is_suspect("TOTAL 9.00", 0.99) and not korean.is_suspect("合计", 0.99)


def test_a_line_is_korean_when_mostly_confident_hangul():
    assert korean.is_korean_line([("한글에서", 0.9, 0.0, 0.3), ("워터마크를", 0.85, 0.35, 0.7)])
    assert korean.is_korean_line([("[TREASURE", 0.9, 0.0, 0.3), ("하루토]를", 0.8, 0.3, 0.6), ("위해", 0.8, 0.6, 1)])
    assert not korean.is_korean_line([("TOTAL", 0.9, 0.0, 0.5), ("9.0괘", 0.6, 0.5, 1.0)])  # a smudge
    assert not korean.is_korean_line([("한글", 0.2, 0.0, 1.0)])  # guessed


def test_tesseract_is_asked_only_when_enough_lines_are_suspect():
    assert not korean.should_read_korean(suspects=1, lines=3)
    assert not korean.should_read_korean(suspects=2, lines=40)
    assert korean.should_read_korean(suspects=5, lines=20) == korean.korean_available()


NEEDS_SAMPLE = pytest.mark.skipif(not WATERMARK.exists(), reason=f"the shared Korean corpus is absent ({WATERMARK})")


@pytest.mark.slow
@NEEDS_SAMPLE
def test_korean_page_is_read_with_tesseract():
    assert korean.korean_available(), "scripts/system-deps.sh installs tesseract-ocr and tesseract-ocr-kor"
    text = ocr_document(WATERMARK.read_bytes(), mime_type="image/png")["text"]
    assert text.count("워터마크") >= 4 and text.count("한글에서") >= 6


@pytest.mark.slow
@NEEDS_SAMPLE
def test_without_tesseract_a_korean_page_fails_with_a_clear_reason(monkeypatch):
    """tesseract is installed here; its absence is simulated by reporting no languages."""
    monkeypatch.setattr(korean, "tesseract_languages", lambda: frozenset())
    with pytest.raises(UnsupportedScript) as info:
        ocr_document(WATERMARK.read_bytes(), mime_type="image/png")
    assert info.value.code == "unsupported_script"
    assert "tesseract-ocr-kor" in info.value.message
