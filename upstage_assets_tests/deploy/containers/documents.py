"""Documents for the container tests: the project's sample generator, run on the host, and a drop
into a folder that containers read (atomic renames, owned by the image's user)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

IMAGE_UID = 10001  # the Dockerfile's dagster user


def sample_documents(out_dir: Path, invoices: int, receipts: int, seed: int = 0) -> list[Path]:
    """The project's sample generator (a PDF and an image per document), run on the host."""
    done = subprocess.run([sys.executable, "-m", "upstage_assets.samples", str(out_dir), "--invoices", str(invoices),
                           "--receipts", str(receipts), "--seed", str(seed)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return [Path(line) for line in done.stdout.split()]


def drop(files: list[Path], inbox: Path, staging: Path) -> list[Path]:
    """Copy files into ``inbox`` the way an upload would land: whole files (written beside it, then
    renamed), readable by the container user. Returns the paths in the inbox."""
    staging.mkdir(parents=True, exist_ok=True)
    inbox.mkdir(parents=True, exist_ok=True)
    for folder in (staging, inbox):
        os.chown(folder, IMAGE_UID, IMAGE_UID)
    landed = []
    for path in files:
        temporary = Path(shutil.copy(path, staging / path.name))
        os.chown(temporary, IMAGE_UID, IMAGE_UID)
        os.rename(temporary, inbox / path.name)
        landed.append(inbox / path.name)
    return landed
