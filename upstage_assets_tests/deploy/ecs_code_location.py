"""A tiny code location for the launcher test: one GPU-tagged asset, like the platform's own."""

from dagster import Definitions, asset, define_asset_job

from upstage_assets.deploy.k8s_gpu import GPU_OP_TAGS


@asset(op_tags=GPU_OP_TAGS)
def preprocessed_pages() -> int:
    return 1


defs = Definitions(assets=[preprocessed_pages], jobs=[define_asset_job("gpu_pages_job", [preprocessed_pages])])
