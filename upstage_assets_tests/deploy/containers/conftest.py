"""The image under test: built once per session by ``scripts/build-image.sh`` (what ``make image`` runs).

The build reuses podman's layer cache and the Debian base image by tag, so a session after the
first one rebuilds only what changed. Without podman every test here is skipped (and says so).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from upstage_assets_tests.deploy.containers.podman import IMAGE, PODMAN, REPO

BUILD_TIMEOUT_S = 40 * 60  # a cold build here: debootstrap + every wheel, on two shared cores
BUILD_ATTEMPTS = 2  # the build downloads from PyPI and Debian: one retry for a network hiccup


@pytest.fixture(scope="session")
def image() -> str:
    if PODMAN is None:
        pytest.skip("podman absent: the container tests need podman (make system-deps installs it)")
    failures = []
    for attempt in range(1, BUILD_ATTEMPTS + 1):
        started = time.monotonic()
        done = subprocess.run(["bash", "scripts/build-image.sh"], cwd=REPO, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S, env={**os.environ, "CONTAINER_ENGINE": "podman"})
        if done.returncode == 0:
            print(f"image {IMAGE}: build step took {time.monotonic() - started:.0f} s (attempt {attempt})")
            return IMAGE
        failures.append(f"attempt {attempt}:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}")
    raise AssertionError("make image failed:\n" + "\n".join(failures))
