"""A run worker to be killed: one process_documents run over every registered document.

Run as ``python -m upstage_assets_tests.execution.crash_worker`` with DAGSTER_HOME and the
UPSTAGE_ASSETS_* variables set; one document at a time so the run is killed mid-way.
"""

from dagster import DagsterInstance

from upstage_assets.dagster_compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from upstage_assets.definitions import build_definitions
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets.settings import Settings


def main() -> None:
    with DagsterInstance.get() as instance:
        keys = instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME)
        job = build_definitions(Settings.from_env(backend="local")).get_job_def("process_documents")
        job.execute_in_process(
            instance=instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
            run_config={"ops": {"document_pipeline": {"config": {"max_concurrent_documents": 1}}}})


if __name__ == "__main__":
    main()
