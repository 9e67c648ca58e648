"""The four per-document assets' keys, shared by the pipeline, checks, sensors and the CLI."""

from dagster import AssetKey

RAW_DOCUMENTS = AssetKey("raw_documents")
PARSED_LAYOUTS = AssetKey("parsed_layouts")
KIE_FIELDS = AssetKey("kie_fields")
VALIDATED_DOCUMENTS = AssetKey("validated_documents")
DOCUMENT_ASSET_KEYS = (RAW_DOCUMENTS, PARSED_LAYOUTS, KIE_FIELDS, VALIDATED_DOCUMENTS)
