"""One page load in the real browser for ``bench/scale.py``: the ``validated_documents`` partitions page.

Timed from ``goto`` until the page shows the partition counts by status ("Materialized (N)"),
which it renders once the statuses of every partition have arrived; each load is a fresh browser
context (no cache). Chromium from Debian's package, as in ``upstage_assets_tests/ui``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PAGE = "/assets/validated_documents?view=partitions"
RENDERED = re.compile(r"^Materialized \(\d+\)$")


def measure_browser(url: str, repeat: int = 1, add_partition: Callable[[], Any] | None = None) -> dict[str, float]:
    """The partitions page's load, warm (minimum of ``repeat``), and with ``add_partition`` after one new
    partition each time (what a user sees while intake runs). Nothing when Chromium is not installed."""
    if not Path(CHROMIUM).exists():
        return {}
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            def load() -> float:
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                try:
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(f"{url}{PAGE}", timeout=600_000)
                    page.get_by_text(RENDERED).first.wait_for(timeout=600_000)
                    return time.perf_counter() - started
                finally:
                    context.close()
            load()  # the first load also fetches the UI's scripts and fills the status cache if stale
            out = {"ui_browser_partitions_s": min(load() for _ in range(repeat))}
            if add_partition is not None:
                after = []
                for _ in range(repeat):
                    add_partition()
                    after.append(load())
                out["ui_browser_partitions_after_new_s"] = min(after)
                print(f"  browser, partitions page after one new partition: {after}", flush=True)
            return out
        finally:
            browser.close()
