"""Run configuration of the document pipeline (set in the launchpad or a backfill's config)."""

from __future__ import annotations

from dagster import Config
from pydantic import Field

from upstage_assets.defs.pipeline.routing import DocumentTypePolicy
from upstage_assets.defs.pipeline.table_commits import DEFAULT_COMMIT_EVERY, DEFAULT_COMMIT_WAIT_S
from upstage_assets.inspection import DocumentLimits

LOCAL_CONCURRENCY = 8


class DocumentPipelineConfig(Config):
    default_schema: str | None = Field(
        default=None,
        description="extraction schema for documents registered without one: a built-in name "
                    "(invoice, receipt) or a path to a JSON schema in the Upstage response_format form "
                    "(default: $UPSTAGE_ASSETS_DEFAULT_SCHEMA, else invoice)")
    document_types: str = Field(
        default="check",
        description="check: every document is classified (the backend's classifier) and one of another kind than "
                    "its fixed schema is quarantined as wrong_document_type, not extracted; off: only schema=auto "
                    "documents are classified. schema=auto always routes by class (others: quarantined as "
                    "unclassified)")
    auto_schemas: list[str] = Field(
        default=["invoice", "receipt"],
        description="the schemas schema=auto chooses among (built-in names or JSON schema paths; each schema's "
                    "name is its class label, its description guides the classifier)")
    min_type_confidence: float = Field(
        default=0.6, ge=0.0, le=1.0,
        description="a fixed schema's document is quarantined as wrong_document_type only when the classifier "
                    "is at least this sure (the API gives no confidence: its answer counts as sure)")
    ocr: str = Field(default="auto", description="auto: OCR only where there is no text layer; force: OCR all")
    max_concurrent_documents: int | None = Field(
        default=None, ge=1,
        description="documents in flight in one step; default: 8 on the local engine (CPU/GPU-bound), and on "
                    "the Upstage API the client's max_in_flight (enough documents to keep the rate limit busy)")
    table_commit_every: int = Field(
        default=DEFAULT_COMMIT_EVERY, ge=1,
        description="validated documents per Delta commit at most (a commit also ends every step)")
    table_commit_wait_s: float = Field(
        default=DEFAULT_COMMIT_WAIT_S, gt=0,
        description="seconds a validated row waits at most for its commit, when fewer than table_commit_every "
                    "are pending")
    max_document_bytes: int = Field(default=100 * 1024 * 1024, description="refuse larger documents")
    max_pages: int = Field(default=2000, description="refuse documents with more pages")
    max_pixels_per_page: int = Field(default=200_000_000, description="refuse larger images")
    max_quarantine_fraction: float = Field(
        default=0.5, description="the quarantine check (not the run) fails when more of a batch than this is "
                    "quarantined")
    api_retry_rounds: int = Field(
        default=1, ge=0, le=5,
        description="after the batch, documents whose API calls still failed (an outage longer than the client's "
                    "circuit breaker waits, throttling) are tried this many more times in the same run")
    fail_step_on_document_errors: bool = Field(
        default=True,
        description="after every document has been tried, fail the step if any document failed, so "
                    "failed documents show as failed partitions (finished ones stay materialized)")

    def concurrency(self, parser_resource: object) -> int:
        """Documents in flight: the explicit setting, else what the backend can keep busy."""
        if self.max_concurrent_documents is not None:
            return self.max_concurrent_documents
        return max(LOCAL_CONCURRENCY, int(getattr(parser_resource, "max_in_flight", LOCAL_CONCURRENCY)))

    def document_type_policy(self) -> DocumentTypePolicy:
        return DocumentTypePolicy(self.document_types, tuple(self.auto_schemas), self.min_type_confidence)

    def limits(self) -> DocumentLimits:
        return DocumentLimits(self.max_document_bytes, self.max_pages, self.max_pixels_per_page)
