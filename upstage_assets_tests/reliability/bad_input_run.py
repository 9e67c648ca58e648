"""Run bad input through the real platform and check what was recorded against each document.

Documents are registered by the inbox's own path (``scan_inbox``), processed by batched runs
against the emulator, and judged from what a user sees: the failures table, the run's
failure metadata in the UI, which partitions materialized, and the emulator's request count
(refused documents must cost nothing).
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance

from upstage_assets.defs.pipeline.keys import PARSED_LAYOUTS, RAW_DOCUMENTS
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.ingest.folder import scan_inbox
from upstage_assets.ingest.naming import document_id_for_bytes, failure_id_for_source
from upstage_assets.storage.failures import read_failures
from upstage_assets_tests.launching import launch_batched_runs
from upstage_assets_tests.reliability.bad_inputs import BadInput
from upstage_assets_tests.reliability.chaos import emulator_stats
from upstage_assets_tests.reliability.environment import platform_env, scenario_environment
from upstage_assets_tests.reliability.platform import reliability_definitions

MAX_HASHED = 100 * 1024 * 1024  # larger files are refused unread; never read them here either


@dataclass
class Outcome:
    filename: str
    document_id: str | None
    error_code: str | None  # None: not failed
    message: str | None
    stage: str | None
    parsed: bool
    in_run_failure_metadata: bool


@dataclass
class BadInputReport:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    parse_requests: int = 0  # what the emulator was sent
    registration_rss_growth_mib: float = 0.0
    runs: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _run_failure_text(instance: DagsterInstance, run_ids: list[str]) -> str:
    """The failure listing the UI shows on the step of each run."""
    texts = []
    for run_id in run_ids:
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
            data = entry.dagster_event.step_failure_data if entry.dagster_event else None
            user = data.user_failure_data if data else None
            if user is not None:
                texts.extend(str(getattr(v, "value", v)) for v in user.metadata.values())
                texts.append(user.description or "")
    return "\n".join(texts)


def run_bad_inputs(workdir: Path, *, api_key: str, selection: tuple[Any, ...] | None = None,
                   run_config: dict | None = None) -> BadInputReport:
    """Register everything already in ``workdir/data/inbox`` and process it; report per file."""
    from upstage_assets_tests.execution.documents import persistent_instance

    started = time.monotonic()
    data, home = workdir / "data", workdir / "dagster_home"
    report = BadInputReport()
    instance = persistent_instance(home)
    with run_emulator_in_thread(EmulatorSettings(api_key=api_key)) as emulator, \
            scenario_environment(platform_env(data, home, emulator.url)):
        defs = reliability_definitions(read_timeout_s=300.0)  # real files: no injected timeouts here
        storage = defs.resources["storage"]
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        scanned = scan_inbox(storage.inbox_store(), storage.output_store(), storage.registry(),
                             default_schema="invoice")
        report.registration_rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                              - rss_before) / 1024
        ids = scanned.new_ids
        instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, ids)
        report.runs = launch_batched_runs(
            instance, ids, 50, defs=defs, reason="bad input", resume=False,
            run_config=run_config or {"ops": {"document_pipeline": {"config": {"max_quarantine_fraction": 1.0}}}},
            asset_selection=list(selection) if selection else None)
        report.parse_requests = int(emulator_stats(emulator.url)["requests_by_endpoint"].get("document-parse", 0))
        failures = {r["document_id"]: r for r in read_failures(storage.output_store(), storage.layout).to_pylist()}
        ui_text = _run_failure_text(instance, report.runs)
        parsed = instance.get_materialized_partitions(PARSED_LAYOUTS)
        raw = instance.get_materialized_partitions(RAW_DOCUMENTS)
        inbox = storage.inbox_store()
        registered = set(ids)
        for info in inbox.list():
            name = info.key.rsplit("/", 1)[-1]
            document_id = None
            if 0 < info.size <= MAX_HASHED and "\\" not in info.key:  # same bytes, same document
                document_id = document_id_for_bytes(inbox.read_bytes(info.key))
                document_id = document_id if document_id in registered else None
            uri = f"{inbox.root_uri.rstrip('/')}/{info.key}"  # as registration names it, odd names too
            row = failures.get(document_id or failure_id_for_source(uri))
            report.outcomes[info.key] = Outcome(
                filename=name, document_id=document_id,
                error_code=row["error_code"] if row else None, message=row["message"] if row else None,
                stage=row["stage"] if row else None,
                parsed=document_id in parsed if selection is None or PARSED_LAYOUTS in selection
                else document_id in raw,
                in_run_failure_metadata=bool(document_id and row and document_id in ui_text
                                             and row["error_code"] in ui_text))
    report.seconds = round(time.monotonic() - started, 1)
    return report


def judge(report: BadInputReport, cases: dict[str, BadInput]) -> list[str]:
    """Every way the outcome differs from what each case expects (empty when all is right)."""
    problems = []
    for name, case in cases.items():
        got = report.outcomes.get(name)
        if got is None:
            problems.append(f"{name}: not seen at all")
            continue
        if case.expected is None:
            if got.error_code is not None and got.stage == "raw_documents":
                problems.append(f"{name}: refused ({got.error_code}: {got.message}), expected to be processed")
            elif not got.parsed:
                problems.append(f"{name}: not processed ({got.error_code}: {got.message})")
            continue
        if got.error_code != case.expected or got.stage != case.stage or not got.message:
            problems.append(f"{name}: recorded {got.error_code!r} at {got.stage!r} ({got.message}), "
                            f"expected {case.expected!r} at {case.stage!r}")
        if case.stage != "inbox" and not got.in_run_failure_metadata:
            problems.append(f"{name}: its failure is not in the run's failure metadata")
    return problems
