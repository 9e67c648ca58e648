"""The Dagster UI in a real browser: materialize one document, backfill the rest, read the table.

A real dagster-webserver and dagster-daemon serve the project from a fresh instance; Debian's
chromium is driven by Playwright (never `playwright install`). Screenshots of the asset graph
and a partition page go to upstage_assets_tests/ui/artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from upstage_assets_tests.defs.webhook_receiver import WebhookReceiver
from upstage_assets_tests.ui.dagster_stack import REPO_ROOT, VENV_BIN, DagsterStack, stack_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).parent / "artifacts"
RUN_TIMEOUT_S = 300


def _generated_pdfs(out: Path) -> Path:
    """Two invoices and a receipt as born-digital PDFs (fast: text layer, no OCR), in schema folders."""
    from upstage_assets.samples import generate_samples

    docs = out / "docs"
    for sample in generate_samples(out / "generated", seed=11, invoices=2, receipts=1):
        if sample.path.suffix == ".pdf":
            (docs / sample.schema).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sample.path, docs / sample.schema / sample.path.name)
    return docs


def _failed_runs(instance) -> list[str]:
    from dagster import DagsterRunStatus, RunsFilter

    return [run.run_id for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))]


def _wait_for(predicate, what: str, stack: DagsterStack, timeout: float = RUN_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    instance = _instance(stack)
    while time.monotonic() < deadline:
        failed = _failed_runs(instance)
        if failed:
            raise AssertionError(f"run {failed[0]} failed while waiting for {what}\n{stack.logs()}")
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}\n{stack.logs()}")


def _dismiss_community_dialog(page, wait_s: float = 0.0) -> None:
    """Press "Skip" on the community dialog if it is (or, within ``wait_s``, becomes) visible."""
    skip = page.get_by_role("button", name="Skip")
    deadline = time.monotonic() + wait_s
    while True:
        if skip.count() and skip.first.is_visible():
            skip.first.click(timeout=5_000)
            skip.first.wait_for(state="hidden", timeout=5_000)
            return
        if time.monotonic() >= deadline:
            return
        time.sleep(0.25)


@pytest.fixture
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def stack(tmp_path, webhook):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (apt-get install -y chromium)")
    env = stack_env(tmp_path)
    env["UPSTAGE_ASSETS_WEBHOOK_URL"] = webhook.url  # the alert sensors start with it set
    from upstage_assets.operations.local_instance import ensure_dagster_home

    ensure_dagster_home(env["DAGSTER_HOME"])  # the project's dagster.yaml: telemetry off, queue limits
    docs = _generated_pdfs(tmp_path)
    registered = subprocess.run([str(VENV_BIN / "upstage-assets"), "ingest", str(docs), "--register-only", "--json",
                                 "--no-progress"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["registered"] == 3
    stack = DagsterStack(tmp_path, env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def _instance(stack: DagsterStack):
    from dagster import DagsterInstance

    return DagsterInstance.from_config(stack.env["DAGSTER_HOME"])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_materialize_one_document_then_backfill_the_rest_from_the_ui(stack, webhook):
    from playwright.sync_api import sync_playwright

    from upstage_assets.defs.pipeline.keys import VALIDATED_DOCUMENTS
    from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
    from upstage_assets.operations.reporting import read_tables

    instance = _instance(stack)
    keys = list(instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME))
    assert len(keys) == 3
    first, rest = keys[0], keys[1:]
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {"asset_graph": ARTIFACTS / "asset_graph.png", "partition_page": ARTIFACTS / "partition_page.png"}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.set_default_timeout(60_000)
        try:
            # A fresh instance greets with "Join the Dagster community": press Skip first.
            page.goto(f"{stack.url}/locations/upstage_assets/jobs/process_documents")
            _dismiss_community_dialog(page, wait_s=15)

            # One document: the job's "Materialize all…", one partition picked, one run.
            _dismiss_community_dialog(page, wait_s=2)
            page.get_by_role("button", name="Materialize all…").first.click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("Select a partition or create one").click()
            page.get_by_role("menuitem", name=first).first.click()
            dialog.get_by_role("button", name="Launch 1 run").click()
            _wait_for(lambda: first in instance.get_materialized_partitions(VALIDATED_DOCUMENTS),
                      f"document {first} to be materialized by the UI's run", stack)

            # The rest: "Missing" partitions, one backfill.
            page.goto(f"{stack.url}/locations/upstage_assets/jobs/process_documents")
            _dismiss_community_dialog(page, wait_s=2)
            page.get_by_role("button", name="Materialize all…").first.click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_role("button", name="Missing", exact=True).click()
            dialog.get_by_text("2 partitions").first.wait_for()
            dialog.get_by_role("button", name="Launch backfill").click()
            backfill = _wait_for(lambda: next(iter(instance.get_backfills()), None), "the backfill to exist", stack)
            _wait_for(lambda: set(rest) <= instance.get_materialized_partitions(VALIDATED_DOCUMENTS),
                      "the backfill's documents to be materialized", stack)
            done = _wait_for(lambda: (b := instance.get_backfill(backfill.backfill_id)) and
                             b.status.value.startswith("COMPLETED") and b, "the backfill to complete", stack)
            assert done.status.value == "COMPLETED_SUCCESS", done.status

            page.goto(f"{stack.url}/assets/validated_documents?view=partitions&partition={first}")
            page.get_by_text("reasons").first.wait_for()  # the partition's materialization metadata
            _dismiss_community_dialog(page)
            page.screenshot(path=str(shots["partition_page"]))

            # The asset graph, raw_documents to quality_report, now filled.
            page.goto(f"{stack.url}/assets/raw_documents?view=lineage&lineageScope=downstream&lineageDepth=4")
            page.get_by_text("quality_report").first.wait_for()
            page.get_by_text("100% filled").first.wait_for()
            loading = page.get_by_text("Loading...")
            _wait_for(lambda: page.get_by_text("100% filled").count() >= 4 and loading.count() == 0,
                      "every node of the graph to show its partitions", stack, timeout=90)
            _dismiss_community_dialog(page)
            page.screenshot(path=str(shots["asset_graph"]))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"))
            raise
        finally:
            browser.close()

    tables = read_tables(Path(stack.env["UPSTAGE_ASSETS_OUTPUT"]))
    rows = {r["document_id"]: r for t in tables.values() for r in t.to_pylist()}
    assert set(rows) == set(keys), f"one row per document in the Parquet tables: {sorted(rows)}"
    assert {r["schema_name"] for r in rows.values()} == {"invoice", "receipt"}
    assert all(r["backend"] == "local" and r["sha256"].startswith(r["document_id"]) for r in rows.values())

    # The daemon's alert sensors told the webhook: the UI's single run, then the whole backfill.
    notices = _wait_for(lambda: [p["text"] for p in webhook.posts if p["text"].startswith("*backfill")],
                        "the backfill-completion notice", stack, timeout=180)
    assert "documents: 2 done, 0 failed" in notices[0] and backfill.backfill_id in notices[0]
    run_notices = [p["text"] for p in webhook.posts if p["text"].startswith("*run")]
    assert run_notices and "documents: 1 done, 0 failed" in run_notices[0], webhook.posts
    for name, path in shots.items():
        assert path.stat().st_size > 10_000, name
        print(f"screenshot {name}: {path}")
