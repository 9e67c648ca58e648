"""docker/docker-compose.yml brought up with podman-compose (PostgreSQL, code server, webserver, daemon)
and driven only from outside the containers: documents dropped into the documents volume's inbox,
evidence read from the webserver's GraphQL API and from the Parquet tables in the volume.

One stack for the module; the tests run in order and build on each other's documents. The
images for PostgreSQL (and moto) are made from Debian/PyPI packages when no registry answers.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from upstage_assets_tests.deploy.containers import graphql_queries as gq
from upstage_assets_tests.deploy.containers.documents import drop, sample_documents
from upstage_assets_tests.deploy.containers.podman import REPO, free_port, needs_podman, podman, wait_until
from upstage_assets_tests.deploy.containers.stack import ComposeStack, write_env_file

pytestmark = [needs_podman, pytest.mark.slow, pytest.mark.timeout(3600)]  # the first test may build the image
READY_TIMEOUT_S = 420
PROCESS_TIMEOUT_S = 600
OFFICIAL = {"POSTGRES_IMAGE": ("postgres:16.6-bookworm", "postgres"), "MOTO_IMAGE": ("motoserver/moto:5.2.5", "moto")}


def service_images() -> dict[str, str]:
    """The official images when they can be pulled, else the ones made from Debian/PyPI packages."""
    chosen = {}
    for variable, (official, local_kind) in OFFICIAL.items():
        exists = podman("image", "exists", official, check=False).returncode == 0
        if exists or podman("pull", "-q", official, check=False, timeout=300).returncode == 0:
            chosen[variable] = official
            continue
        built = subprocess.run(["bash", "scripts/local-base-images.sh", local_kind], cwd=REPO, capture_output=True,
                               text=True, timeout=1800)
        assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
        tags = {"postgres": "localhost/upstage-assets/postgres:15-bookworm", "moto": "localhost/upstage-assets/moto:5.2.5"}
        chosen[variable] = tags[local_kind]
    return chosen


def wait_ready(stack: ComposeStack) -> float:
    """Seconds until the webserver shows the code location loaded and the daemon's loops healthy."""
    started = time.monotonic()
    diagnostics = lambda: "\n".join(stack.logs(s) for s in ("postgres", "code-server", "webserver", "daemon"))  # noqa: E731
    wait_until(lambda: gq.location_loaded(stack), READY_TIMEOUT_S, "the code location in the webserver", 3,
               diagnostics)
    wait_until(lambda: gq.daemons_healthy(stack), READY_TIMEOUT_S, "healthy daemon heartbeats", 3, diagnostics)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def stack(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    env_file = tmp_path_factory.mktemp("stack") / "stack.env"
    write_env_file(env_file)
    stack = ComposeStack(
        project=f"upstage-stack-{uuid.uuid4().hex[:8]}",
        env={"UPSTAGE_ASSETS_IMAGE": image, "UPSTAGE_ASSETS_ENV_FILE": str(env_file),
             "WEBSERVER_PORT": str(free_port()), **service_images()})
    try:
        started = time.monotonic()
        stack.compose("up", "-d")
        ready = wait_ready(stack)
        print(f"stack {stack.project}: up -d {time.monotonic() - started - ready:.0f} s, ready after "
              f"{time.monotonic() - started:.0f} s")
        yield stack
    finally:
        stack.destroy()


def documents_dir(stack: ComposeStack) -> Path:
    return stack.volume_path("documents")


def table_rows(stack: ComposeStack) -> list[dict[str, Any]]:
    tables = documents_dir(stack) / "outputs" / "tables"
    return [row for schema in sorted(tables.iterdir())
            for row in DeltaTable(str(schema)).to_pyarrow_table().to_pylist()]


def wait_materialized(stack: ComposeStack, count: int, retries_pending: bool = False) -> dict[str, int]:
    """Waits for ``count`` materialized partitions with none failed or in progress. A failed partition
    fails the wait at once, unless ``retries_pending``: then a lost run's partitions may show failed until
    the daemon's retry of that run plans them again."""
    def done() -> dict[str, int] | None:
        stats = gq.partition_stats(stack)
        assert retries_pending or stats["numFailed"] == 0, stats
        settled = stats["numMaterializing"] == 0 and stats["numFailed"] == 0
        return stats if stats["numMaterialized"] >= count and settled else None

    return wait_until(done, PROCESS_TIMEOUT_S, f"{count} partitions of validated_documents materialized", 3,
                      lambda: f"{gq.partition_stats(stack)}\n{gq.runs(stack)}\n" + stack.logs("daemon"))


def drop_samples(stack: ComposeStack, folder: str, tmp: Path, seed: int, invoices: int, receipts: int,
                 scans: int = 0) -> list[str]:
    """Sample PDFs (and the first ``scans`` scanned images, which go through OCR) into /data/<folder>,
    receipts under receipt/; returns their in-container URIs."""
    generated = sample_documents(tmp / f"samples-{seed}", invoices=invoices, receipts=receipts, seed=seed)
    files = [f for f in generated if f.suffix == ".pdf"] + [f for f in generated if f.suffix != ".pdf"][:scans]
    root = documents_dir(stack)
    landed: list[Path] = []
    landed += drop([f for f in files if f.name.startswith("invoice")], root / folder, root / ".staging")
    landed += drop([f for f in files if f.name.startswith("receipt")], root / folder / "receipt", root / ".staging")
    return sorted(str(Path("/data") / p.relative_to(root)) for p in landed)


def finished_runs(stack: ComposeStack) -> list[dict[str, Any]]:
    """All runs, once none is queued or in progress (a run ends a moment after its last materialization)."""
    def settled() -> list[dict[str, Any]] | None:
        runs = gq.runs(stack)
        return runs if all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for r in runs) else None

    return wait_until(settled, PROCESS_TIMEOUT_S, "every run to finish", 2, lambda: str(gq.runs(stack)))


def assert_lost_runs_were_retried_to_success(runs: list[dict[str, Any]]) -> None:
    """Every run succeeded, or failed and was retried by the daemon until a retry succeeded.

    A daemon killed between marking a run STARTING and handing it to the code server leaves a run that
    never started; run monitoring fails it after its start timeout and run retries re-launch it
    (docker/dagster.yaml). Retries skip asset and op failures, so a retried run is a lost one, never a
    failed document."""
    by_id = {r["id"]: r for r in runs}
    for run in runs:
        chain = [run]
        while chain[-1]["status"] != "SUCCESS":
            assert chain[-1]["status"] == "FAILURE", chain
            retry_id = chain[-1]["tags"].get("dagster/auto_retry_run_id")
            assert retry_id in by_id and retry_id not in {r["id"] for r in chain}, (chain, runs)
            chain.append(by_id[retry_id])
        if len(chain) > 1:
            print("lost run retried: " + " -> ".join(f"{r['id'][:8]} {r['status']}" for r in chain))


def assert_once_each(stack: ComposeStack, expected_uris: list[str]) -> None:
    """Every document has exactly one row and its partition exactly one materialization."""
    rows = table_rows(stack)
    uris = sorted(row["source_uri"] for row in rows)
    assert uris == sorted(expected_uris), uris
    per_partition = gq.materializations_per_partition(stack)
    assert len(per_partition) == len(expected_uris) and set(per_partition.values()) == {1}, per_partition


def test_sensor_processes_documents_dropped_in_the_inbox(stack: ComposeStack, tmp_path_factory) -> None:
    tmp = tmp_path_factory.mktemp("drop")
    uris = drop_samples(stack, "inbox", tmp, seed=1, invoices=2, receipts=1, scans=1)  # 3 PDFs + 1 scan
    stats = wait_materialized(stack, len(uris))
    assert stats["numPartitions"] == len(uris)
    launched = finished_runs(stack)
    assert launched and all(r["status"] == "SUCCESS" for r in launched), launched
    assert {r["tags"].get("dagster/sensor_name") for r in launched} == {"new_inbox_documents"}, launched
    assert_once_each(stack, uris)
    stack.expected = uris  # type: ignore[attr-defined]  # the later tests add to these


def test_down_then_up_resumes_without_redoing(stack: ComposeStack, tmp_path_factory) -> None:
    before_runs = {r["id"] for r in gq.runs(stack)}
    started = time.monotonic()
    stack.compose("down", "-t", "20")
    down_s = time.monotonic() - started
    assert podman("volume", "exists", stack.volume("documents"), check=False).returncode == 0
    assert podman("volume", "exists", stack.volume("postgres-data"), check=False).returncode == 0
    restarted = time.time()
    started = time.monotonic()
    stack.compose("up", "-d")
    ready_s = wait_ready(stack)
    print(f"down {down_s:.0f} s; second up ready after {time.monotonic() - started:.0f} s ({ready_s:.0f} s waiting)")

    def ticked_twice() -> bool:
        ticks = [t for t in gq.sensor_ticks(stack, "new_inbox_documents") if t["timestamp"] > restarted]
        return len(ticks) >= 2

    wait_until(ticked_twice, 180, "two inbox sensor ticks after the restart", 5)
    assert {r["id"] for r in gq.runs(stack)} == before_runs  # nothing re-launched
    assert_once_each(stack, stack.expected)  # type: ignore[attr-defined]

    new = drop_samples(stack, "inbox", tmp_path_factory.mktemp("drop2"), seed=2, invoices=1, receipts=0)
    stack.expected = sorted(stack.expected + new)  # type: ignore[attr-defined]
    wait_materialized(stack, len(stack.expected))  # type: ignore[attr-defined]
    after = finished_runs(stack)
    assert len(after) == len(before_runs) + 1 and all(r["status"] == "SUCCESS" for r in after), after
    assert_once_each(stack, stack.expected)  # type: ignore[attr-defined]


def test_daemon_killed_mid_backfill_loses_nothing_and_repeats_nothing(stack: ComposeStack, tmp_path_factory) -> None:
    """`upstage-assets ingest` (no --wait) submits one backfill; the daemon container is SIGKILLed as soon
    as the backfill has a run, then started again; the backfill completes with every document once.
    Where the kill lands while a run is being launched, that run is lost and retried (checked below)."""
    batch = drop_samples(stack, "batch", tmp_path_factory.mktemp("batch"), seed=3, invoices=3, receipts=0)
    before = {r["id"] for r in gq.runs(stack)}
    podman("exec", stack.container("webserver"), "upstage-assets", "ingest", "/data/batch", "--no-progress",
           timeout=300)
    (backfill,) = wait_until(lambda: [b for b in gq.backfills(stack) if b["status"] == "REQUESTED"] or None, 120,
                             "the submitted backfill", 1)

    def backfill_run() -> list[dict[str, Any]]:
        return [r for r in gq.runs(stack) if r["tags"].get("dagster/backfill") == backfill["id"]]

    wait_until(backfill_run, 300, "the backfill's first run", 1, lambda: stack.logs("daemon"))
    killed_at = {r["id"]: r["status"] for r in backfill_run()}
    podman("kill", stack.container("daemon"))
    time.sleep(5)
    podman("start", stack.container("daemon"), check=False)  # the restart policy may have started it already
    assert podman("inspect", "--format", "{{.State.Running}}", stack.container("daemon")).stdout.strip() == "true"
    print(f"daemon killed with backfill {backfill['id']} REQUESTED and its runs {killed_at}")

    stack.expected = sorted(stack.expected + batch)  # type: ignore[attr-defined]
    wait_materialized(stack, len(stack.expected), retries_pending=True)  # type: ignore[attr-defined]
    wait_until(lambda: next(b for b in gq.backfills(stack) if b["id"] == backfill["id"])["status"].startswith(
        "COMPLETED"), 300, "the backfill to complete", 3, lambda: str(gq.backfills(stack)) + stack.logs("daemon"))
    new_runs = [r for r in finished_runs(stack) if r["id"] not in before]
    assert new_runs and all(r["tags"].get("dagster/backfill") == backfill["id"] for r in new_runs), new_runs
    assert_lost_runs_were_retried_to_success(new_runs)
    assert_once_each(stack, stack.expected)  # type: ignore[attr-defined]
