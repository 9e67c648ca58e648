"""A user's downstream asset reads the real pipeline's results through the JSON IO manager."""

import shutil

import pytest
from dagster import AssetIn, AssetKey, DagsterInstance, asset, materialize

from upstage_assets.defs.pipeline.document_pipeline import build_document_pipeline
from upstage_assets.defs.pipeline.keys import PARSED_LAYOUTS, RAW_DOCUMENTS
from upstage_assets.defs.pipeline.partitions import documents_partitions
from upstage_assets.defs.resources import build_resources
from upstage_assets.ingest.folder import scan_inbox
from upstage_assets.resources.io_managers import MissingDocumentResult
from upstage_assets.settings import Settings


@asset(partitions_def=documents_partitions, ins={"parsed": AssetIn(PARSED_LAYOUTS), "raw": AssetIn(RAW_DOCUMENTS)})
def page_summary(parsed: dict, raw: dict) -> dict:
    """What a user writes: one value per document from the pipeline's parse and fingerprint."""
    return {doc: {"elements": len(parsed[doc]["elements"]), "pages": raw[doc]["page_count"]} for doc in parsed}


def test_a_downstream_asset_gets_the_parsed_layout_not_an_empty_dict(data_root, sample_documents, tmp_path):
    """Bug 1: the IO manager read parsed_layouts/<id>.json while the stages write parsed/<id>.json."""
    sample = sample_documents[0]
    shutil.copyfile(sample.path, data_root / "inbox" / sample.path.name)
    settings = Settings.from_env(backend="local")
    resources = build_resources(settings)
    storage = resources["storage"]
    [document_id] = scan_inbox(storage.inbox_store(), storage.output_store(), storage.registry(),
                               default_schema="invoice").new_ids
    pipeline = build_document_pipeline(settings)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("documents", [document_id, "0000000000000000"])
        done = materialize([pipeline], selection=[RAW_DOCUMENTS, PARSED_LAYOUTS], partition_key=document_id,
                           instance=instance, resources=resources)
        assert done.success
        result = materialize([pipeline, page_summary], selection=[AssetKey("page_summary")],
                             partition_key=document_id, instance=instance, resources=resources)
        summary = result.output_for_node("page_summary")
        assert summary[document_id]["elements"] > 0 and summary[document_id]["pages"] >= 1

        with pytest.raises(MissingDocumentResult, match="no parsed_layouts result"):
            materialize([pipeline, page_summary], selection=[AssetKey("page_summary")],
                        partition_key="0000000000000000", instance=instance, resources=resources)
