"""The operator's setting: the CLI on a fresh DAGSTER_HOME against the emulator on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from upstage_assets.cli import main
from upstage_assets.emulator.server import EmulatorHandle, run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings

KEY = "operator-test-key"


@dataclass
class Operator:
    """Runs `upstage-assets ...` the way a user types it and keeps what it printed."""

    data_root: Path
    home: Path
    emulator: EmulatorHandle
    capsys: pytest.CaptureFixture[str]

    def cli(self, *argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def cli_json(self, *argv: str) -> tuple[int, dict, str]:
        code, out, err = self.cli(*argv, "--json")
        return code, json.loads(out), err

    def instance(self):
        from dagster import DagsterInstance

        return DagsterInstance.from_config(str(self.home))


@pytest.fixture
def operator(data_root, tmp_path, monkeypatch, capsys) -> Iterator[Operator]:
    with run_emulator_in_thread(EmulatorSettings(seed=3, async_queue_s=0.05, async_batch_s=0.05)) as emulator:
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        monkeypatch.setenv("UPSTAGE_ASSETS_BACKEND", "emulator")
        monkeypatch.setenv("UPSTAGE_API_KEY", KEY)
        monkeypatch.setenv("UPSTAGE_API_BASE_URL", emulator.url)
        yield Operator(data_root, tmp_path / "dagster_home", emulator, capsys)


def write_pdfs(folder: Path, count: int, prefix: str = "doc", pages: int = 1) -> list[Path]:
    from upstage_assets_tests.emulator.conftest import make_pdf

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}-{i}.pdf"
        path.write_bytes(make_pdf(pages, lines=("INVOICE", f"Invoice No: INV-{prefix}-{i}", f"Total: {10 + i}.50")))
        paths.append(path)
    return paths
