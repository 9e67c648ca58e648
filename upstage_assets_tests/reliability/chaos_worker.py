"""The run worker the chaos scenario SIGKILLs: one backfill-sized run over every document.

``python -m upstage_assets_tests.reliability.chaos_worker`` with DAGSTER_HOME, the
UPSTAGE_ASSETS_* variables, UPSTAGE_API_BASE_URL and UPSTAGE_API_KEY set.
"""

from dagster import DagsterInstance

from upstage_assets.dagster_compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from upstage_assets.defs.pipeline.partitions import DOCUMENTS_PARTITIONS_NAME
from upstage_assets_tests.reliability.platform import reliability_definitions


def main() -> None:
    with DagsterInstance.get() as instance:
        keys = instance.get_dynamic_partitions(DOCUMENTS_PARTITIONS_NAME)
        job = reliability_definitions().resolve_job_def("process_documents")
        job.execute_in_process(
            instance=instance, raise_on_error=False,
            tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
            run_config={"ops": {"document_pipeline": {"config": {"max_concurrent_documents": 4}}}})


if __name__ == "__main__":
    main()
