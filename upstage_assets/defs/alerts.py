"""Notices to a Slack-compatible webhook: failed runs, finished runs and finished backfills.

``UPSTAGE_ASSETS_WEBHOOK_URL`` (``Settings.webhook_url``) turns the sensors on (they default
to stopped without it). With ``UPSTAGE_ASSETS_UI_URL`` (the Dagster UI's address) each notice
links to its run or backfill page, as Dagster's own Slack integration does.
Each message says what an operator needs first: which run or backfill, how many documents
were done and failed (with the first reasons), pages and the estimated cost. Messages are
built from the run's own events and the failures table, never from configuration, and every
known secret value (API key, AWS credentials, the webhook URL itself) is masked before
anything is sent or logged.
"""


import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from dagster import (
    DagsterEventType,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunsFilter,
    RunStatusSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)

from upstage_assets.dagster_compat import BACKFILL_ID_TAG, BULK_ACTION_TERMINAL_STATUSES, BulkActionsFilter
from upstage_assets.defs.pipeline.keys import KIE_FIELDS, PARSED_LAYOUTS, VALIDATED_DOCUMENTS
from upstage_assets.redaction import redact
from upstage_assets.resources.storage import StorageResource
from upstage_assets.settings import WEBHOOK_ENV, Settings

MAX_REASONS = 5
POST_ATTEMPTS = 3
BACKFILL_LOOKBACK_SECONDS = 3600


def alert_status(settings: Settings) -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if settings.alerts_running else DefaultSensorStatus.STOPPED


@dataclass
class WorkSummary:
    """What a run (or a backfill's runs together) did."""

    title: str
    status: str
    run_ids: list[str] = field(default_factory=list)
    documents_done: int = 0
    documents_failed: int = 0
    pages: int = 0
    pages_billed: int = 0
    cost_usd: float = 0.0
    seconds: float | None = None
    reasons: list[str] = field(default_factory=list)
    link: str | None = None  # the run's or backfill's page in the Dagster UI

    def add(self, other: "WorkSummary") -> None:
        self.run_ids += other.run_ids
        self.documents_done += other.documents_done
        self.documents_failed += other.documents_failed
        self.pages += other.pages
        self.pages_billed += other.pages_billed
        self.cost_usd += other.cost_usd
        self.reasons += other.reasons

    def text(self) -> str:
        ids = ", ".join(self.run_ids[:3]) + (f" (+{len(self.run_ids) - 3} more)" if len(self.run_ids) > 3 else "")
        lines = [f"*{self.title}*: {self.status}", f"runs: {ids or 'none'}",
                 f"documents: {self.documents_done} done, {self.documents_failed} failed",
                 f"pages: {self.pages} ({self.pages_billed} billed), estimated cost: ${self.cost_usd:.2f}"]
        if self.seconds:
            rate = self.documents_done / self.seconds if self.seconds else 0.0
            lines.append(f"time: {self.seconds:.0f}s ({rate:.2f} documents/s)")
        lines += [f"• {reason}" for reason in self.reasons[:MAX_REASONS]]
        if len(self.reasons) > MAX_REASONS:
            lines.append(f"… {len(self.reasons) - MAX_REASONS} more: `upstage-assets status`")
        if self.link:
            lines.append(f"<{self.link}|open in the Dagster UI>")
        return redact("\n".join(lines))

    def payload(self) -> dict[str, Any]:
        """Slack's incoming-webhook shape: ``text`` (mrkdwn); other receivers read the same field."""
        return {"text": self.text()}


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)


def run_link(ui_base_url: str | None, run_id: str) -> str | None:
    return f"{ui_base_url.rstrip('/')}/runs/{run_id}" if ui_base_url else None


def backfill_link(ui_base_url: str | None, backfill_id: str) -> str | None:
    return f"{ui_base_url.rstrip('/')}/runs/b/{backfill_id}?tab=runs" if ui_base_url else None


def summarize_run(instance: Any, run: Any, failures: Iterable[dict[str, Any]] = (),
                  ui_base_url: str | None = None) -> WorkSummary:
    """Documents done (validated), pages and cost from the run's materializations; failures given."""
    summary = WorkSummary(title=f"run {run.run_id[:8]} ({run.job_name})", status=run.status.value.lower(),
                          run_ids=[run.run_id], link=run_link(ui_base_url, run.run_id))
    validated: set[str] = set()
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.dagster_event.event_specific_data.materialization
        metadata = materialization.metadata
        if materialization.asset_key == VALIDATED_DOCUMENTS:
            validated.add(materialization.partition)
        if materialization.asset_key == PARSED_LAYOUTS:
            summary.pages += int(_value(metadata.get("pages")) or 0)
        if materialization.asset_key in (PARSED_LAYOUTS, KIE_FIELDS):  # each product's bill (storage.billing)
            summary.pages_billed += int(_value(metadata.get("pages_billed")) or 0)
            summary.cost_usd += float(_value(metadata.get("estimated_cost_usd")) or 0.0)
    summary.documents_done = len(validated)
    mine = [f for f in failures if f.get("run_id") == run.run_id]
    summary.documents_failed = len(mine)
    summary.reasons = [f"{f['document_id']} at {f['stage']}: [{f['error_code']}] {f['message']}" for f in mine]
    stats = instance.get_run_stats(run.run_id)
    if stats.start_time and stats.end_time:
        summary.seconds = stats.end_time - stats.start_time
    return summary


def post_webhook(payload: dict[str, Any], url: str | None, timeout: float = 10.0,
                 backoff_s: float = 0.5) -> bool:
    """POST the payload; a few retries on connection errors and 5xx. Never raises, never logs the URL."""
    if not url:
        return False
    body = json.dumps(payload).encode()
    for attempt in range(POST_ATTEMPTS):
        try:
            response = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=timeout)
            if response.status_code < 500:
                return response.is_success
        except httpx.HTTPError:
            pass
        if attempt + 1 < POST_ATTEMPTS:
            time.sleep(backoff_s * 2**attempt)
    return False


def _failure_rows(storage: StorageResource) -> list[dict[str, Any]]:
    from upstage_assets.storage.failures import read_failures

    return read_failures(storage.output_store(), storage.layout).to_pylist()


def summarize_backfill(instance: Any, backfill: Any, failures: list[dict[str, Any]],
                       ui_base_url: str | None = None) -> WorkSummary:
    total = WorkSummary(title=f"backfill {backfill.backfill_id}" + (f" ({backfill.title})" if backfill.title else ""),
                        status=backfill.status.value.lower(), link=backfill_link(ui_base_url, backfill.backfill_id))
    for run in instance.get_runs(RunsFilter(tags={BACKFILL_ID_TAG: backfill.backfill_id})):
        total.add(summarize_run(instance, run, failures))
    if backfill.backfill_end_timestamp:
        total.seconds = backfill.backfill_end_timestamp - backfill.backfill_timestamp
    return total


def build_alert_sensors(settings: Settings) -> list[SensorDefinition]:
    """The three notice sensors, posting to ``settings.webhook_url`` (stopped by default without one)."""
    status = alert_status(settings)

    @run_failure_sensor(name="alert_on_run_failure", default_status=status, monitor_all_code_locations=False,
                        description=f"Posts failed runs to the webhook in ${WEBHOOK_ENV}.")
    def alert_on_run_failure(context: RunFailureSensorContext, storage: StorageResource):
        summary = summarize_run(context.instance, context.dagster_run, _failure_rows(storage), settings.ui_base_url)
        if context.failure_event.message and not summary.reasons:
            summary.reasons = [context.failure_event.message.splitlines()[0]]
        if not post_webhook(summary.payload(), settings.webhook_url):
            context.log.warning("could not deliver the run-failure notice to the webhook")


    @run_status_sensor(name="alert_on_run_success", run_status=DagsterRunStatus.SUCCESS, default_status=status,
                       description="Posts finished runs (outside backfills: those get one notice when the backfill "
                                   f"ends) to the webhook in ${WEBHOOK_ENV}.")
    def alert_on_run_success(context: RunStatusSensorContext, storage: StorageResource):
        if context.dagster_run.tags.get(BACKFILL_ID_TAG):
            return SkipReason("part of a backfill: reported when the backfill completes")
        summary = summarize_run(context.instance, context.dagster_run, _failure_rows(storage), settings.ui_base_url)
        if not post_webhook(summary.payload(), settings.webhook_url):
            context.log.warning("could not deliver the run notice to the webhook")
        return None


    @sensor(name="alert_on_backfill_completion", minimum_interval_seconds=30, default_status=status,
            description=f"Posts one notice per finished backfill to the webhook in ${WEBHOOK_ENV}.")
    def alert_on_backfill_completion(context: SensorEvaluationContext, storage: StorageResource):
        since = float(context.cursor) if context.cursor else time.time() - BACKFILL_LOOKBACK_SECONDS
        finished = [b for b in context.instance.get_backfills(
            filters=BulkActionsFilter(statuses=list(dict.fromkeys(BULK_ACTION_TERMINAL_STATUSES))), limit=100)
            if (b.backfill_end_timestamp or 0) > since]
        if not finished:
            return SkipReason("no backfill finished since the last check")
        failures = _failure_rows(storage)
        newest = since
        for backfill in sorted(finished, key=lambda b: b.backfill_end_timestamp or 0):
            if not post_webhook(summarize_backfill(context.instance, backfill, failures, settings.ui_base_url).payload(),
                                settings.webhook_url):
                context.log.warning(f"could not deliver the notice for backfill {backfill.backfill_id}")
            newest = max(newest, backfill.backfill_end_timestamp or 0)
        context.update_cursor(str(newest))
        return None

    return [alert_on_run_failure, alert_on_run_success, alert_on_backfill_completion]
