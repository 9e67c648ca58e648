"""The one place that reaches into Dagster's private modules (``dagster._...``).

Everything here has no public name in Dagster 1.13; everything that has one is imported from
``dagster`` directly elsewhere. ``upstage_assets_tests/test_dagster_compat.py`` fails loudly
when a pinned-Dagster upgrade moves or changes one of these, so an upgrade is one file's work.
"""

from __future__ import annotations

from dagster import _check as check
from dagster._core.definitions.data_version import DATA_VERSION_TAG
from dagster._core.definitions.resource_annotation import TreatAsResourceParam
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.events import AssetMaterializationPlannedData, EngineEventData, StepMaterializationData
from dagster._core.execution.backfill import (
    BULK_ACTION_TERMINAL_STATUSES,
    BulkActionsFilter,
    BulkActionStatus,
    PartitionBackfill,
)
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
)
from dagster._core.pipes.utils import extract_message_or_forward_to_file
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
    PARTITION_NAME_TAG,
)
from dagster._core.utils import make_new_backfill_id

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG", "ASSET_PARTITION_RANGE_START_TAG", "BACKFILL_ID_TAG", "PARTITION_NAME_TAG",
    "BULK_ACTION_TERMINAL_STATUSES", "DATA_VERSION_TAG", "BulkActionStatus", "BulkActionsFilter",
    "CheckStepHealthResult", "EngineEventData", "PartitionBackfill", "RetryMode", "SensorExecutionData", "StepDelegatingExecutor",
    "StepHandler", "StepHandlerContext", "TreatAsResourceParam", "check", "extract_message_or_forward_to_file",
    "get_retries_config", "make_new_backfill_id",
    # bench/scale_state.py writes the events real runs leave, in bulk, through the event log storage:
    "AssetMaterializationPlannedData", "StepMaterializationData",
]
