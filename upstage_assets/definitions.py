"""The code location: assets, checks, jobs, sensors and environment-selected resources.

``UPSTAGE_ASSETS_ENV`` (local | aws | k8s) and ``UPSTAGE_ASSETS_BACKEND`` (local | emulator |
upstage) pick the resources; the assets never change. The embedded default is the local
engine with local-folder storage: no key, no cloud, nothing to start by hand.
"""

from __future__ import annotations

from dagster import Definitions

from upstage_assets import settings
from upstage_assets.alerts import ALERT_SENSORS
from upstage_assets.assets.document_pipeline import document_pipeline
from upstage_assets.assets.learned_kie import LEARNED_KIE_ASSETS, LEARNED_KIE_CHECKS
from upstage_assets.assets.quality_report import quality_report
from upstage_assets.executors import executor_for_backend
from upstage_assets.jobs import process_documents_job
from upstage_assets.manifest import new_manifests
from upstage_assets.resources.catalog import build_resources
from upstage_assets.schedules import SCHEDULES, compact_tables_job
from upstage_assets.sensors import new_inbox_documents
from upstage_assets.sensors_s3 import new_s3_documents


def build_definitions(environment: str | None = None, backend: str | None = None) -> Definitions:
    """Definitions for an environment; tests call this with their own settings."""
    return Definitions(
        assets=[document_pipeline, quality_report, *LEARNED_KIE_ASSETS],
        asset_checks=LEARNED_KIE_CHECKS,
        jobs=[process_documents_job, compact_tables_job],
        schedules=SCHEDULES,
        sensors=[new_inbox_documents, new_s3_documents, new_manifests, *ALERT_SENSORS],
        resources=build_resources(environment, backend),
        executor=executor_for_backend(backend or settings.backend()),
    )


defs = build_definitions()
