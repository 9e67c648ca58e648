"""``new_manifests``: CSV/Parquet manifests dropped under ``<inbox>/_manifests/`` become documents.

Each manifest file is registered once per version (the cursor maps key -> version) with
``ingest.manifests.register_manifest``, and its new documents are requested in batched runs.
"""

from __future__ import annotations

import json

from dagster import SensorDefinition, SensorEvaluationContext, SensorResult, sensor

from upstage_assets.defs.pipeline.jobs import batched_run_requests, process_documents_job
from upstage_assets.defs.pipeline.partitions import documents_partitions
from upstage_assets.defs.sensors.inbox import sensor_status
from upstage_assets.defs.sensors.known import KnownPartitions
from upstage_assets.ingest.manifests import (
    MANIFEST_SUFFIXES,
    MANIFESTS_FOLDER,
    ManifestError,
    register_manifest,
)
from upstage_assets.resources.storage import StorageResource
from upstage_assets.settings import Settings


def build_manifest_sensor(settings: Settings, name: str = "new_manifests",
                          minimum_interval_seconds: int = 30) -> SensorDefinition:
    """Registers manifests dropped under ``<inbox>/_manifests/`` (each file once per version)."""

    @sensor(name=name, job=process_documents_job, minimum_interval_seconds=minimum_interval_seconds,
            default_status=sensor_status(settings),
            description=f"Registers the documents listed by CSV/Parquet manifests under <inbox>/{MANIFESTS_FOLDER}/.")
    def _new_manifests(context: SensorEvaluationContext, storage: StorageResource) -> SensorResult:
        processed: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        store = storage.inbox_store()
        fresh = [info for info in store.list(MANIFESTS_FOLDER)
                 if info.key.lower().endswith(MANIFEST_SUFFIXES) and processed.get(info.key) != info.version]
        if not fresh:
            return SensorResult(skip_reason="no new manifests", cursor=context.cursor)
        known = KnownPartitions(context.instance)
        new_ids: list[str] = []
        for info in fresh:
            try:
                result = register_manifest(store.uri(info.key), storage, settings.default_schema, known_ids=known,
                                           failure_run_id=f"sensor:{name}")
            except ManifestError as exc:
                context.log.error(f"manifest {info.key} not used: {exc}")
            else:
                new_ids += result.new_ids
                known.update(result.new_ids)
                context.log.info(f"manifest {info.key}: {len(result.new_records)} new, "
                                 f"{len(result.duplicates)} already known, {len(result.skipped)} skipped")
                for uri, reason in result.skipped:
                    context.log.warning(f"{uri}: {reason}")
            processed[info.key] = info.version
        cursor = json.dumps(processed, separators=(",", ":"))
        if not new_ids:
            return SensorResult(skip_reason="manifests held no new documents", cursor=cursor)
        return SensorResult(
            run_requests=batched_run_requests(new_ids, settings.documents_per_run, reason="manifest", run_key_prefix="manifest"),
            dynamic_partitions_requests=[documents_partitions.build_add_request(new_ids)], cursor=cursor)

    return _new_manifests
