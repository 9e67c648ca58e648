"""Every knob of the emulator in one dataclass, settable from code, the CLI or the environment.

Defaults describe a fast, well-behaved API (no limits, no faults, short async timers) so tests
run quickly; benchmarks and chaos tests turn on exactly the knobs they study.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

ENV_PREFIX = "UPSTAGE_EMULATOR_"

# Endpoint groups: the unit of rate limiting, latency and the stats' peak-RPS report.
PARSE = "document-parse"
OCR = "ocr"
PARSE_ASYNC = "document-parse-async"
POLL = "requests"
EXTRACT = "information-extraction"
EXTRACT_ASYNC = "information-extraction-async"
SCHEMA_GENERATION = "schema-generation"
PREBUILT = "prebuilt-extraction"
CLASSIFY = "document-classification"
ENDPOINT_GROUPS = (PARSE, OCR, PARSE_ASYNC, POLL, EXTRACT, EXTRACT_ASYNC, SCHEMA_GENERATION, PREBUILT, CLASSIFY)

# Published limits (contract section 7): DP tier 0 sync 1 RPS / 300 PPM, async 2 RPS / 1,200 PPM
# in older docs; the current quickstart says 3 / 6 RPS. IE base is 1 / 2 RPS.
DOCUMENTED_RPS = {PARSE: 3.0, OCR: 3.0, PARSE_ASYNC: 6.0, EXTRACT: 1.0, EXTRACT_ASYNC: 2.0,
                  SCHEMA_GENERATION: 1.0, PREBUILT: 1.0, CLASSIFY: 100 / 60}
DOCUMENTED_PPM = {PARSE: 300.0, OCR: 300.0, PARSE_ASYNC: 1200.0}

MB = 1024 * 1024


@dataclass(frozen=True)
class EmulatorSettings:
    # Auth: None accepts any non-empty Bearer key; a string requires exactly that key.
    api_key: str | None = None
    # Latency: a response takes at least latency_s + latency_per_page_s * pages + U(0, jitter_s).
    latency_s: float = 0.0
    latency_per_page_s: float = 0.0
    latency_jitter_s: float = 0.0
    # Rate limits per endpoint group (see ENDPOINT_GROUPS); a missing group is unlimited.
    rps_limits: dict[str, float] = field(default_factory=dict)
    ppm_limits: dict[str, float] = field(default_factory=dict)
    # Fault injection: probability per API request of each fault; the seed makes runs repeatable.
    seed: int | None = None
    fault_rate_429: float = 0.0
    fault_rate_5xx: float = 0.0
    fault_rate_timeout: float = 0.0
    fault_rate_truncated: float = 0.0
    fault_rate_malformed: float = 0.0
    fault_rate_job_failure: float = 0.0  # an async batch fails (job ends "failed")
    timeout_hold_s: float = 30.0  # how long a "timeout" fault holds the request
    timeout_mode: str = "hold"  # "hold": hold then answer 504; "close": hold then drop the connection
    # Document limits (contract section 1).
    max_bytes: int = 100 * MB
    async_max_bytes: int = 500 * MB
    sync_max_pages: int = 100
    async_max_pages: int = 2000
    max_pixels_per_page: int = 200_000_000
    ie_max_bytes: int = 50 * MB
    ie_sync_max_pages: int = 100
    ie_async_max_documents: int = 20
    prebuilt_max_pages: int = 30  # later pages are ignored, as the API does
    # Async timing: a job waits queue_s in "submitted", then each batch takes at least batch_s.
    async_batch_pages: int = 10
    async_queue_s: float = 0.2
    async_batch_s: float = 0.2
    download_url_ttl_s: float = 900.0
    # Engine: worker threads for the CPU-heavy local engine, and a cache of identical requests.
    engine_workers: int = 2
    engine_executor: str = "thread"  # "process": spawn workers so engine work can't hold the loop's GIL
    result_cache_size: int = 64
    # Benchmark mode: every engine result (inspection, parse, extraction) is kept by content without
    # bound, and POST /__emulator__/warm/<API path> computes them outside limits, latency and stats.
    # Warmed first, a request then costs microseconds of CPU, so a benchmark measures the client and
    # the platform, not the local engine. Limits, latency and 429s are unchanged.
    benchmark_mode: bool = False
    # Snapshots the aliases resolve to (contract section 0).
    parse_snapshot: str = "document-parse-260930"
    ocr_snapshot: str = "ocr-260930"
    ie_snapshot: str = "information-extract-260904"
    classify_snapshot: str = "document-classify-260904"

    def __post_init__(self) -> None:
        if self.timeout_mode not in ("hold", "close"):
            raise ValueError(f"timeout_mode must be 'hold' or 'close', not {self.timeout_mode!r}")
        for f in fields(self):
            if f.name.startswith("fault_rate_") and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(f"{f.name} must be a probability between 0 and 1")
        for group, value in {**self.rps_limits, **self.ppm_limits}.items():
            if group not in ENDPOINT_GROUPS or value <= 0:
                raise ValueError(f"bad limit {group}={value}; groups: {', '.join(ENDPOINT_GROUPS)}")
        if self.engine_executor not in ("thread", "process"):
            raise ValueError(f"engine_executor must be 'thread' or 'process', not {self.engine_executor!r}")
        if self.async_batch_pages < 1:
            raise ValueError("async_batch_pages must be at least 1")

    def with_documented_limits(self) -> EmulatorSettings:
        """The same settings with Upstage's published RPS and PPM limits switched on."""
        return replace(self, rps_limits={**DOCUMENTED_RPS, **self.rps_limits},
                       ppm_limits={**DOCUMENTED_PPM, **self.ppm_limits})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> EmulatorSettings:
        """Read UPSTAGE_EMULATOR_<FIELD> variables (e.g. UPSTAGE_EMULATOR_FAULT_RATE_429=0.1,
        UPSTAGE_EMULATOR_RPS_LIMITS="document-parse=3,ocr=3"); explicit overrides win."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = parse_setting(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def parse_setting(name: str, raw: str) -> Any:
    """Turn one textual knob value into the field's type."""
    kinds = {f.name: f.type for f in fields(EmulatorSettings)}
    if name not in kinds:
        raise ValueError(f"unknown emulator setting {name!r}")
    kind = str(kinds[name])
    if kind.startswith("dict"):
        return parse_group_limits(raw)
    if kind == "int":
        return int(raw)
    if kind == "bool":
        if raw.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ValueError(f"{name} must be true or false, not {raw!r}")
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind == "float":
        return float(raw)
    if kind == "int | None":
        return None if raw.lower() in ("none", "") else int(raw)
    if kind == "str | None":
        return None if raw == "" else raw
    return raw


def parse_group_limits(raw: str) -> dict[str, float]:
    """'document-parse=3,ocr=1.5' -> {"document-parse": 3.0, "ocr": 1.5}; unknown groups are refused."""
    limits: dict[str, float] = {}
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        group, _, value = part.partition("=")
        group = group.strip()
        if group not in ENDPOINT_GROUPS:
            raise ValueError(f"unknown endpoint group {group!r}; known: {', '.join(ENDPOINT_GROUPS)}")
        limits[group] = float(value)
    return limits
