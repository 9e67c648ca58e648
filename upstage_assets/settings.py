"""The code location's settings: one frozen object, read from the environment once.

``Settings.from_env()`` is called by ``definitions.py`` (and the CLI) when the code location
loads; the result is passed into every factory (``build_definitions(settings)``), so nothing
reads ``UPSTAGE_ASSETS_*`` at import time and a test builds any environment x backend by
giving its own ``Settings``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENVIRONMENTS = ("local", "aws", "k8s")
BACKENDS = ("local", "emulator", "upstage")
UPSTAGE_URL = "https://api.upstage.ai"
EMULATOR_URL = "http://127.0.0.1:8765"
WEBHOOK_ENV = "UPSTAGE_ASSETS_WEBHOOK_URL"
API_KEY_ENV = "UPSTAGE_API_KEY"
#: Every limit of the Upstage client the environment may set, as UPSTAGE_CLIENT_<NAME>
#: (e.g. UPSTAGE_CLIENT_PARSE_REQUESTS_PER_SECOND=3); run config
#: (``resources: parser: config: <name>``) overrides it for one run. Names are fields of
#: ``upstage_assets.resources.upstage_client.UpstageClient`` (a test pins that).
CLIENT_ENV_PREFIX = "UPSTAGE_CLIENT_"
CLIENT_INTEGER_LIMITS = ("max_connections", "max_in_flight", "max_attempts", "sync_page_limit", "breaker_threshold")
CLIENT_LIMITS = (
    "parse_requests_per_second", "parse_pages_per_minute", "async_requests_per_second", "async_pages_per_minute",
    "extract_requests_per_second", "classify_requests_per_second", "poll_requests_per_second", "rate_limit_burst",
    "rate_limit_headroom", "rate_limit_max_skew_s",
    "connect_timeout_s", "read_timeout_s", "backoff_base_s", "backoff_max_s", "retry_total_s",
    "poll_initial_s", "poll_max_s", "poll_timeout_s", "breaker_base_pause_s", "breaker_max_pause_s",
    "breaker_max_outage_s", *CLIENT_INTEGER_LIMITS,
)
#: The client's USD prices per billed page, set the same way (UPSTAGE_CLIENT_PRICE_CLASSIFY=0.02);
#: they price each product in the cost reports (``storage.billing``) and the spend budget. 0 is allowed.
CLIENT_PRICES = ("price_parse_standard", "price_parse_enhanced", "price_ocr", "price_extract",
                 "price_extract_enhanced", "price_classify")


def _client_limits(env: Mapping[str, str]) -> tuple[tuple[str, float], ...]:
    found = []
    for name in (*CLIENT_LIMITS, *CLIENT_PRICES):
        variable = CLIENT_ENV_PREFIX + name.upper()
        value = (env.get(variable) or "").strip()
        if not value:
            continue
        try:
            number = float(int(value)) if name in CLIENT_INTEGER_LIMITS else float(value)
        except ValueError:
            kind = "a whole number" if name in CLIENT_INTEGER_LIMITS else "a number"
            raise ValueError(f"{variable}={value!r} is not {kind}") from None
        if name in CLIENT_PRICES:
            if number < 0:
                raise ValueError(f"{variable}={value!r} must be 0 or more")
        elif number <= 0 and name != "rate_limit_headroom":
            raise ValueError(f"{variable}={value!r} must be above 0")
        found.append((name, number))
    return tuple(found)


def _tier(env: Mapping[str, str]) -> str | None:
    from upstage_assets.upstage_api.tiers import TIER_ENV, tier_limits

    value = (env.get(TIER_ENV) or "").strip().lower()
    if value:
        tier_limits(value)  # refuses an unknown tier with a message naming the variable
    return value or None


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a whole number") from None


def _optional_number(env: Mapping[str, str], name: str) -> float | None:
    value = (env.get(name) or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None


@dataclass(frozen=True)
class Settings:
    """What the environment chooses; the assets never change with it."""

    environment: str = "local"  # UPSTAGE_ASSETS_ENV: local | aws | k8s
    backend: str = "local"  # UPSTAGE_ASSETS_BACKEND: local | emulator | upstage
    data_root: str = "data"  # UPSTAGE_ASSETS_DATA: folder or s3:// prefix holding inbox and outputs
    output_root: str = "data/outputs"  # UPSTAGE_ASSETS_OUTPUT
    inbox: str = "data/inbox"  # UPSTAGE_ASSETS_INBOX
    default_schema: str = "invoice"  # UPSTAGE_ASSETS_DEFAULT_SCHEMA: built-in name or JSON schema path
    inbox_sensors_running: bool = True  # UPSTAGE_ASSETS_INBOX_SENSOR=running|stopped (default: running locally)
    webhook_url: str | None = field(default=None, repr=False)  # UPSTAGE_ASSETS_WEBHOOK_URL: turns alerts on
    s3_endpoint_url: str | None = None  # UPSTAGE_ASSETS_S3_ENDPOINT_URL (moto, MinIO)
    s3_event_queue_url: str | None = None  # UPSTAGE_ASSETS_S3_EVENT_QUEUE_URL: S3 events -> SQS intake
    upstage_base_url: str | None = None  # UPSTAGE_API_BASE_URL (default: the emulator's or Upstage's)
    documents_per_run: int = 250  # UPSTAGE_ASSETS_DOCUMENTS_PER_RUN: documents in one batched run (bench/results/throughput.md)
    max_documents_per_tick: int = 1000  # UPSTAGE_ASSETS_MAX_DOCUMENTS_PER_TICK: inbox sensor reads per tick
    ui_base_url: str | None = None  # UPSTAGE_ASSETS_UI_URL: the Dagster UI's address, for links in notices
    client_limits: tuple[tuple[str, float], ...] = ()  # UPSTAGE_CLIENT_<NAME>: CLIENT_LIMITS, CLIENT_PRICES
    tier: str | None = None  # UPSTAGE_TIER: payg | explore | build | scale (upstage_api/tiers.py)
    api_key_set: bool = False  # whether UPSTAGE_API_KEY is non-empty (the key itself is read by the client only)
    budget_per_run_usd: float | None = None  # UPSTAGE_ASSETS_BUDGET_PER_RUN_USD: Upstage spend limit per run
    budget_per_day_usd: float | None = None  # UPSTAGE_ASSETS_BUDGET_PER_DAY_USD: Upstage spend limit per UTC day
    state_store: str | None = None  # UPSTAGE_ASSETS_STATE_STORE: limiter + budget state (dir or postgresql:// URL)
    shutdown_grace_s: float = 90.0  # UPSTAGE_ASSETS_SHUTDOWN_GRACE_S: SIGTERM -> in-flight documents get this long

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ValueError(f"UPSTAGE_ASSETS_ENV={self.environment!r}; expected one of {', '.join(ENVIRONMENTS)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"UPSTAGE_ASSETS_BACKEND={self.backend!r}; expected one of {', '.join(BACKENDS)}")
        if self.documents_per_run < 1 or self.max_documents_per_tick < 1:
            raise ValueError("UPSTAGE_ASSETS_DOCUMENTS_PER_RUN and _MAX_DOCUMENTS_PER_TICK must be at least 1")
        if self.shutdown_grace_s < 0:
            raise ValueError("UPSTAGE_ASSETS_SHUTDOWN_GRACE_S must be at least 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting once; ``overrides`` win over the environment (tests, the CLI)."""
        env = os.environ if environ is None else environ
        environment = overrides.pop("environment", None) or env.get("UPSTAGE_ASSETS_ENV", "local")
        data_root = overrides.pop("data_root", None) or env.get("UPSTAGE_ASSETS_DATA", "data")
        sensor = env.get("UPSTAGE_ASSETS_INBOX_SENSOR", "running" if environment == "local" else "stopped")
        grace = _optional_number(env, "UPSTAGE_ASSETS_SHUTDOWN_GRACE_S")
        values: dict[str, Any] = {
            "environment": environment,
            "backend": env.get("UPSTAGE_ASSETS_BACKEND", "local"),
            "data_root": data_root,
            "output_root": env.get("UPSTAGE_ASSETS_OUTPUT", f"{data_root}/outputs"),
            "inbox": env.get("UPSTAGE_ASSETS_INBOX", f"{data_root}/inbox"),
            "default_schema": env.get("UPSTAGE_ASSETS_DEFAULT_SCHEMA", "invoice"),
            "inbox_sensors_running": sensor.strip().lower() == "running",
            "webhook_url": env.get(WEBHOOK_ENV) or None,
            "s3_endpoint_url": env.get("UPSTAGE_ASSETS_S3_ENDPOINT_URL") or None,
            "s3_event_queue_url": env.get("UPSTAGE_ASSETS_S3_EVENT_QUEUE_URL") or None,
            "upstage_base_url": env.get("UPSTAGE_API_BASE_URL") or None,
            "documents_per_run": _whole_number(env, "UPSTAGE_ASSETS_DOCUMENTS_PER_RUN", 250),
            "max_documents_per_tick": _whole_number(env, "UPSTAGE_ASSETS_MAX_DOCUMENTS_PER_TICK", 1000),
            "api_key_set": bool(env.get(API_KEY_ENV, "").strip()),
            "client_limits": _client_limits(env),
            "tier": _tier(env),
            "ui_base_url": (env.get("UPSTAGE_ASSETS_UI_URL") or "").rstrip("/") or None,
            "budget_per_run_usd": _optional_number(env, "UPSTAGE_ASSETS_BUDGET_PER_RUN_USD"),
            "budget_per_day_usd": _optional_number(env, "UPSTAGE_ASSETS_BUDGET_PER_DAY_USD"),
            "state_store": env.get("UPSTAGE_ASSETS_STATE_STORE") or None,
            "shutdown_grace_s": 90.0 if grace is None else grace,
        }
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def problems(self) -> list[str]:
        """What must be set before a document is sent anywhere: one line each, naming the variable.

        Checked by the CLI before it registers or launches anything (exit code 2), so a missing
        key never surfaces as a run's traceback after the documents were registered.
        """
        found = []
        if self.backend in ("emulator", "upstage") and not self.api_key_set:
            what = ("any value will do for the emulator, e.g. export UPSTAGE_API_KEY=dev-key"
                    if self.backend == "emulator" else "your key from the Upstage console")
            found.append(f"{API_KEY_ENV} is not set; UPSTAGE_ASSETS_BACKEND={self.backend} needs it ({what})")
        return found

    def client_preset(self) -> dict[str, float | int]:
        """The tier's limits (``UPSTAGE_TIER``), empty without one; ``client_overrides`` win over them."""
        from upstage_assets.upstage_api.tiers import tier_limits

        return tier_limits(self.tier) if self.tier else {}

    def client_overrides(self) -> dict[str, float | int]:
        """The client limits and prices the environment set, typed for ``UpstageClient``."""
        return {name: int(value) if name in CLIENT_INTEGER_LIMITS else value for name, value in self.client_limits}

    @property
    def schedules_running(self) -> bool:
        """Nothing runs behind a laptop user's back; deployed environments run their schedules."""
        return self.environment != "local"

    @property
    def alerts_running(self) -> bool:
        return self.webhook_url is not None

    @property
    def base_url(self) -> str:
        """Where the Upstage client sends requests (the emulator's address for ``emulator``)."""
        return self.upstage_base_url or (EMULATOR_URL if self.backend == "emulator" else UPSTAGE_URL)
