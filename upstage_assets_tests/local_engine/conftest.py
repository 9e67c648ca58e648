"""Generated documents shared by the local-engine tests (built once per session)."""

from __future__ import annotations

import pytest

from upstage_assets_tests.local_engine import samples


@pytest.fixture(scope="session")
def report_pdf() -> bytes:
    return samples.report_pdf()


@pytest.fixture(scope="session")
def invoice_pdf() -> bytes:
    return samples.invoice_pdf()


@pytest.fixture(scope="session")
def invoice_png(invoice_pdf: bytes) -> bytes:
    return samples.render_png(invoice_pdf)


@pytest.fixture(scope="session")
def scanned_invoice_jpeg(invoice_pdf: bytes) -> bytes:
    return samples.scanned_jpeg(invoice_pdf)
