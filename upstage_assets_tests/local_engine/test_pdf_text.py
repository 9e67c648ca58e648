"""The pdfium text layer: words, lines, boxes, font sizes, rotation and damaged files."""

from __future__ import annotations

import pytest

from upstage_assets.errors import CorruptDocument, EncryptedDocument
from upstage_assets.local_engine import pdf_text
from upstage_assets_tests.local_engine import samples


def _page(data: bytes, index: int = 0):
    with pdf_text.open_pdf(data) as pdf:
        return pdf_text.page_content(pdf, index)


def test_lines_words_and_font_sizes(report_pdf: bytes) -> None:
    page = _page(report_pdf)
    assert page.source == "text_layer"
    assert (round(page.width), round(page.height)) == (595, 842)  # A4 in points
    texts = [line.text for line in page.lines]
    assert texts[0] == "ACME Holdings - Quarterly Report"
    assert texts[1] == "Annual Summary"
    heading, body = page.lines[1], page.lines[2]
    assert heading.font_size == pytest.approx(20, abs=0.5)
    assert body.font_size == pytest.approx(11, abs=0.5)
    assert body.words[0].text == "Revenue"
    # Boxes are top-left based and ordered down the page.
    assert 0 < page.lines[0].box.y0 < heading.box.y0 < body.box.y0 < page.height
    assert pdf_text.has_text_layer(page)


def test_wide_gap_between_label_and_value_reads_as_two_spaces(invoice_pdf: bytes) -> None:
    page = _page(invoice_pdf)
    texts = [line.text for line in page.lines]
    assert "TOTAL  9.00" in texts
    assert any(t.endswith("Invoice No:  2024-0113") for t in texts)


def test_rotated_page_text_in_displayed_coordinates() -> None:
    page = _page(samples.rotated_pdf())
    assert page.width > page.height  # /Rotate 90 shows the portrait sheet as landscape
    assert [line.text for line in page.lines] == ["Rotated page text"]
    box = page.lines[0].box
    assert 0 <= box.x0 < box.x1 <= page.width and 0 <= box.y0 < box.y1 <= page.height
    assert box.width > 5 * box.height  # the line runs horizontally on the displayed page


def test_figures_found_and_image_only_page_has_no_text_layer(invoice_png: bytes) -> None:
    page = _page(samples.image_only_pdf(invoice_png))
    assert not pdf_text.has_text_layer(page)
    assert page.figures == []  # a full-page scan is a background, not a figure


def test_garbage_and_truncated_pdfs_raise_corrupt_document(invoice_pdf: bytes) -> None:
    with pytest.raises(CorruptDocument):
        with pdf_text.open_pdf(b"%PDF-1.7\nthis is not a pdf at all"):
            pass
    with pytest.raises(CorruptDocument):
        with pdf_text.open_pdf(invoice_pdf[:200]):
            pass


def test_encrypted_pdf_raises_encrypted_document() -> None:
    pdf = samples._pdf()
    pdf.add_page()
    pdf.set_font("DejaVu", "", 12)
    pdf.cell(0, 10, "secret")
    pdf.set_encryption(owner_password="owner", user_password="user")
    with pytest.raises(EncryptedDocument):
        with pdf_text.open_pdf(bytes(pdf.output())):
            pass
