"""Alerts reach a real webhook receiver with the run's numbers, and without any secret."""

import pytest
from dagster import DagsterEventType, build_run_status_sensor_context

from upstage_assets.definitions import build_definitions
from upstage_assets.defs.alerts import post_webhook
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.ingest.folder import register_objects
from upstage_assets.redaction import redact
from upstage_assets.settings import Settings
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets_tests.defs.webhook_receiver import WebhookReceiver

API_KEY = "up_test_key_that_must_never_leak_0123"


@pytest.fixture
def secrets_env(monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", API_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-that-must-never-leak")


def test_post_retries_a_failing_receiver_and_delivers_once():
    with WebhookReceiver(fail_first=2) as receiver:
        assert post_webhook({"text": "hello"}, receiver.url, backoff_s=0.01)
    assert receiver.attempts == 3 and receiver.posts == [{"text": "hello"}]


def test_post_to_a_closed_port_returns_false_without_raising():
    with WebhookReceiver() as receiver:
        url = receiver.url
    assert post_webhook({"text": "x"}, url, timeout=0.5, backoff_s=0.01) is False


def test_redact_masks_every_secret_value(secrets_env, monkeypatch):
    monkeypatch.setenv("UPSTAGE_ASSETS_WEBHOOK_URL", "http://127.0.0.1:1/secret-hook")
    text = redact(f"key={API_KEY} aws=aws-secret-that-must-never-leak hook=http://127.0.0.1:1/secret-hook")
    assert API_KEY not in text and "aws-secret" not in text and "secret-hook" not in text
    assert text.count("[REDACTED]") == 3


def test_a_failed_run_posts_documents_failed_with_reasons(data_root, dagster_instance, secrets_env, monkeypatch):
    inbox = data_root / "inbox"
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not really a pdf")
    (inbox / "notes.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    defs = build_definitions(Settings.from_env(backend="local"))
    storage = defs.resources["storage"]
    source = LocalObjectStore(inbox)
    result = register_objects(source, storage.registry(), list(source.list()), default_schema="invoice")
    ids = sorted(result.new_ids)
    dagster_instance.add_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME, ids)
    order = dagster_instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME)
    run = defs.resolve_job_def("process_documents").execute_in_process(
        instance=dagster_instance, raise_on_error=False,
        tags={"dagster/asset_partition_range_start": order[0], "dagster/asset_partition_range_end": order[-1]})
    assert not run.success
    dagster_run = dagster_instance.get_run_by_id(run.run_id)
    failure_event = next(e.dagster_event for e in dagster_instance.all_logs(run.run_id)
                         if e.dagster_event and e.dagster_event.event_type == DagsterEventType.RUN_FAILURE)

    with WebhookReceiver() as receiver:
        monkeypatch.setenv("UPSTAGE_ASSETS_WEBHOOK_URL", receiver.url)
        monkeypatch.setenv("UPSTAGE_ASSETS_UI_URL", "http://dagster.internal:3000/")
        with build_run_status_sensor_context(
                sensor_name="alert_on_run_failure", dagster_event=failure_event, dagster_instance=dagster_instance,
                dagster_run=dagster_run, resources={"storage": storage}).for_run_failure() as context:
            alert = build_definitions(Settings.from_env(backend="local")).resolve_sensor_def("alert_on_run_failure")
            alert(context)

    assert len(receiver.posts) == 1, receiver.posts
    print(receiver.posts[0]["text"])
    text = receiver.posts[0]["text"]
    assert run.run_id in text and "failure" in text
    assert "documents: 0 done, 2 failed" in text
    for document_id in ids:
        assert document_id in text
    assert "corrupt_document" in text or "unsupported_type" in text
    assert f"<http://dagster.internal:3000/runs/{run.run_id}|open in the Dagster UI>" in text
    for secret in (API_KEY, "aws-secret-that-must-never-leak", "secret-webhook-token"):
        assert secret not in text


def test_backfill_and_run_links_follow_the_configured_ui_address():
    from upstage_assets.defs.alerts import WorkSummary, backfill_link, run_link

    assert run_link(None, "abc") is None
    assert run_link("https://dagster.example.com/", "abc") == "https://dagster.example.com/runs/abc"
    assert backfill_link("https://dagster.example.com", "xyzw") == "https://dagster.example.com/runs/b/xyzw?tab=runs"
    assert "open in the Dagster UI" not in WorkSummary("run", "success").text()
