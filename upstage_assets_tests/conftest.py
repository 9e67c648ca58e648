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


def pytest_collection_modifyitems(session, config, items):
    """Slow tests first (in collection order), then the rest.

    Under ``make test``'s parallel pass, pytest-xdist hands the first tests out round-robin and the
    rest to whichever worker frees up: with the minute-long tests at the front they spread over the
    workers and the quick ones fill the gaps, instead of one long test ending the run alone.
    A stable sort: within each group the order, and so each module's fixtures, stay as collected.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
