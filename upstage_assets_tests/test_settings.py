"""One Settings object picks everything per environment x backend; nothing is read at import."""

import inspect
import json

import pytest
from dagster import DefaultScheduleStatus, DefaultSensorStatus

import upstage_assets.definitions as definitions_module
from upstage_assets.definitions import build_definitions
from upstage_assets.defs.executors import gpu_executor
from upstage_assets.resources.local_engine import LocalEngineResource
from upstage_assets.resources.upstage_client import UpstageClient
from upstage_assets.settings import BACKENDS, ENVIRONMENTS, Settings

INBOX_SENSORS = ("new_inbox_documents", "new_s3_documents", "s3_event_documents", "new_manifests")
ALERTS = ("alert_on_run_failure", "alert_on_run_success", "alert_on_backfill_completion")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_definitions_for_every_environment_and_backend(environment, backend, monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", "up_test")
    settings = Settings.from_env({}, environment=environment, backend=backend)
    defs = build_definitions(settings)
    step = defs.resolve_assets_def("raw_documents").op
    if backend == "local":
        assert step.pool == "gpu" and step.tags["gpu"] == "true"
        assert ("dagster-k8s/config" in step.tags) == (environment == "k8s")
        if environment == "k8s":
            limits = json.loads(step.tags["dagster-k8s/config"])["container_config"]["resources"]["limits"]
            assert limits["nvidia.com/gpu"] == "1"
        assert defs.resolve_job_def("process_documents").executor_def is gpu_executor
        assert isinstance(defs.resources["parser"], LocalEngineResource)
    else:
        assert step.pool == "upstage_api" and "gpu" not in step.tags
        assert defs.resolve_job_def("process_documents").executor_def.name == "in_process"
        parser = defs.resources["parser"]
        assert isinstance(parser, UpstageClient) and parser.backend_label == backend
    inbox_status = DefaultSensorStatus.RUNNING if environment == "local" else DefaultSensorStatus.STOPPED
    assert {defs.resolve_sensor_def(n).default_status for n in INBOX_SENSORS} == {inbox_status}
    assert {defs.resolve_sensor_def(n).default_status for n in ALERTS} == {DefaultSensorStatus.STOPPED}
    schedule_status = DefaultScheduleStatus.STOPPED if environment == "local" else DefaultScheduleStatus.RUNNING
    assert {s.default_status for s in defs.schedules or []} == {schedule_status}
    assert defs.resources["storage"].output_root == "data/outputs"


def test_an_event_queue_makes_the_listing_scan_an_hourly_reconciliation():
    plain = build_definitions(Settings.from_env({}))
    queued = build_definitions(Settings.from_env({"UPSTAGE_ASSETS_S3_EVENT_QUEUE_URL": "https://sqs.example/1/q"}))
    assert plain.resolve_sensor_def("new_s3_documents").minimum_interval_seconds == 30
    assert queued.resolve_sensor_def("new_s3_documents").minimum_interval_seconds == 3600
    assert queued.resolve_sensor_def("s3_event_documents").minimum_interval_seconds == 30


def test_settings_come_from_the_environment_once():
    env = {"UPSTAGE_ASSETS_ENV": "aws", "UPSTAGE_ASSETS_BACKEND": "emulator", "UPSTAGE_ASSETS_DATA": "s3://b/p",
           "UPSTAGE_ASSETS_DEFAULT_SCHEMA": "receipt", "UPSTAGE_ASSETS_WEBHOOK_URL": "http://127.0.0.1:1/h",
           "UPSTAGE_ASSETS_INBOX_SENSOR": "running", "UPSTAGE_ASSETS_DOCUMENTS_PER_RUN": "7"}
    settings = Settings.from_env(env)
    assert (settings.output_root, settings.inbox, settings.default_schema) == ("s3://b/p/outputs", "s3://b/p/inbox",
                                                                              "receipt")
    assert settings.inbox_sensors_running and settings.alerts_running and settings.schedules_running
    assert "127.0.0.1:1/h" not in repr(settings), "the webhook URL is a secret"
    defs = build_definitions(settings)
    assert defs.resolve_sensor_def("alert_on_run_failure").default_status == DefaultSensorStatus.RUNNING
    assert defs.resolve_assets_def("raw_documents").backfill_policy.max_partitions_per_run == 7
    with pytest.raises(ValueError, match="UPSTAGE_ASSETS_ENV"):
        Settings.from_env({"UPSTAGE_ASSETS_ENV": "mars"})


def test_the_pipeline_default_schema_honours_the_setting():
    """``DocumentPipelineConfig.default_schema`` is empty unless set, so the Settings value applies."""
    from upstage_assets.defs.pipeline.config import DocumentPipelineConfig

    assert DocumentPipelineConfig().default_schema is None


def test_definitions_are_found_by_dagster_but_built_lazily():
    assert [name for name, _ in inspect.getmembers(definitions_module) if name == "defs"] == ["defs"]


def test_spend_limits_state_store_and_client_limits_all_reach_the_upstage_client():
    """The fault settings (issue 20) and the UPSTAGE_CLIENT_* limits (issue 22) are set together."""
    env = {"UPSTAGE_ASSETS_BACKEND": "emulator", "UPSTAGE_ASSETS_BUDGET_PER_RUN_USD": "1.5",
           "UPSTAGE_ASSETS_BUDGET_PER_DAY_USD": "20", "UPSTAGE_ASSETS_STATE_STORE": "/tmp/limits",
           "UPSTAGE_ASSETS_SHUTDOWN_GRACE_S": "0", "UPSTAGE_CLIENT_PARSE_REQUESTS_PER_SECOND": "3"}
    settings = Settings.from_env(env)
    assert settings.shutdown_grace_s == 0.0, "0 means abandon at once, not the default"
    assert Settings.from_env({}).shutdown_grace_s == 90.0
    parser = build_definitions(settings).resources["parser"]
    assert isinstance(parser, UpstageClient)
    assert (parser.budget_per_run_usd, parser.budget_per_day_usd, parser.rate_limit_store) == (1.5, 20.0,
                                                                                                "/tmp/limits")
    assert parser.parse_requests_per_second == 3.0
