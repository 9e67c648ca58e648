"""GitHub workflows linted with actionlint (and shellcheck on their run: scripts), offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def _actionlint(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    assert (BIN / "actionlint").exists() and (BIN / "shellcheck").exists(), "pip install -e .[dev]"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(BIN / "actionlint"), "-no-color", *map(str, paths)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120)


def test_actionlint_clean() -> None:
    assert {p.name for p in WORKFLOWS} == {"test.yml", "image.yml", "backfill.yml"}
    done = _actionlint(WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_and_shellcheck_catch_problems(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: echo ${{ github.event.pull_request.title }} $UNQUOTED\n"
                   "      - uses: actions/checkout@v4\n        with: {nope: 1}\n")
    done = _actionlint([bad])
    assert done.returncode != 0
    assert "shellcheck" in done.stdout or "SC2086" in done.stdout
    assert "nope" in done.stdout


def _load(name: str) -> dict:
    doc = yaml.safe_load((REPO / ".github/workflows" / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as boolean true
    return doc


def test_image_pushes_on_main_with_oidc_only() -> None:
    doc = _load("image.yml")
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["permissions"]["id-token"] == "write"
    text = (REPO / ".github/workflows/image.yml").read_text()
    assert "aws-access-key-id" not in text and "secrets.AWS" not in text
    assert "docker/Dockerfile" in text and "TORCH_VARIANT" in text


def test_backfill_is_manual() -> None:
    doc = _load("backfill.yml")
    assert set(doc["on"]) == {"workflow_dispatch"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned_to_a_major_version(path: Path) -> None:
    for line in path.read_text().splitlines():
        if "uses:" in line:
            ref = line.split("uses:")[1].strip()
            assert "@v" in ref or "@" in ref and len(ref.split("@")[1]) == 40, ref
