"""Shared fixtures: an isolated data root, a Dagster instance and generated sample documents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """Point the platform's env settings at a fresh folder (inbox, outputs)."""
    root = tmp_path / "data"
    (root / "inbox").mkdir(parents=True)
    monkeypatch.setenv("UPSTAGE_ASSETS_DATA", str(root))
    monkeypatch.setenv("UPSTAGE_ASSETS_INBOX", str(root / "inbox"))
    monkeypatch.setenv("UPSTAGE_ASSETS_OUTPUT", str(root / "outputs"))
    monkeypatch.setenv("UPSTAGE_ASSETS_BACKEND", "local")
    return root


@pytest.fixture(scope="session")
def sample_documents(tmp_path_factory):
    """The project's generated samples (PDF + scanned image of each) with their truth."""
    from upstage_assets.samples import generate_samples

    out = tmp_path_factory.mktemp("samples")
    return generate_samples(out, seed=7, invoices=2, receipts=2)


@pytest.fixture
def dagster_instance(tmp_path):
    from dagster import DagsterInstance

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.local_temp(tempdir=str(home)) as instance:
        yield instance


def pytest_configure(config):
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
