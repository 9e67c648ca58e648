"""Sentinel secrets: put in the environment the way production gets its secrets, then hunted for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from upstage_assets_tests.reliability.environment import scenario_environment

# Not shaped like an Upstage key (``up_...``), so the pattern-based redaction cannot hide a leak:
# only never writing the configured key anywhere passes.
UPSTAGE_KEY = "sentinel-upstage-key-7Qx2Vw9Lm4"
AWS_ACCESS_KEY_ID = "AKIASENTINEL7Q2W9LM4"
AWS_SECRET_ACCESS_KEY = "sentinel/aws+secret/Zk81Pq0Rt5Uy3Io6Pa2Sd"
SENTINELS = (UPSTAGE_KEY, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)


@contextmanager
def sentinel_environment() -> Iterator[None]:
    values = {"UPSTAGE_API_KEY": UPSTAGE_KEY, "AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY_ID,
              "AWS_SECRET_ACCESS_KEY": AWS_SECRET_ACCESS_KEY, "AWS_DEFAULT_REGION": "us-east-1",
              "AWS_EC2_METADATA_DISABLED": "true"}
    with scenario_environment(values):
        yield
