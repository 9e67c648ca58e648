"""The one interface every backend implements: Document Parse and Information Extraction.

``local`` (the in-process engine), ``upstage`` (the real API) and ``emulator`` (the same
client against the project's own server) all return the exact JSON shapes of the Upstage
contract (shared/upstage-api.md sections 1 and 4), so the assets never know which one ran.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from upstage_assets.schemas.classification import Classification, DocumentLabel
from upstage_assets.schemas.extraction import ExtractionSchema


@dataclass(frozen=True)
class SourceDocument:
    """A document's bytes plus what the pipeline already knows about them."""

    document_id: str
    filename: str
    data: bytes
    mime_type: str
    page_count: int


@dataclass(frozen=True)
class ParseOptions:
    """Document Parse request fields (contract section 1)."""

    model: str = "document-parse"
    mode: str = "standard"
    ocr: str = "auto"
    output_formats: tuple[str, ...] = ("html", "markdown", "text")
    coordinates: bool = True
    chart_recognition: bool = True
    merge_multipage_tables: bool = False
    base64_encoding: tuple[str, ...] = ()


@dataclass
class ExtractionResult:
    """An Information Extraction response plus the per-field view the pipeline stores."""

    response: dict[str, Any]
    fields: dict[str, dict[str, Any]]
    pages_billed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClassificationResult:
    """A classification plus the response it came from and the pages it billed."""

    classification: Classification
    response: dict[str, Any]
    pages_billed: int = 0


class DocumentParser(ABC):
    """Backend-neutral parser. Implementations must be safe to call concurrently."""

    backend: str = "abstract"

    @abstractmethod
    async def parse(self, document: SourceDocument, options: ParseOptions) -> dict[str, Any]:
        """Return a Document Parse response (``api``, ``model``, ``content``, ``elements``, ``usage``)."""

    @abstractmethod
    async def extract(
        self,
        document: SourceDocument,
        schema: ExtractionSchema,
        parsed: dict[str, Any] | None = None,
    ) -> ExtractionResult:
        """Extract the schema's fields; ``parsed`` lets a local backend skip a second parse."""

    @abstractmethod
    async def classify(self, document: SourceDocument, labels: list[DocumentLabel],
                       parsed: dict[str, Any] | None = None) -> ClassificationResult:
        """Which of ``labels`` the document is (contract section 6b); ``parsed`` as for ``extract``."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or pools."""
