"""The ``local`` backend: the engine behind the parser interface, in worker processes.

Every engine call on a document runs in a reused worker process with a time and memory limit
(``local_engine.isolation``): a hang or a crash fails that document (``engine_timeout`` /
``engine_crashed``, retryable) and the batch goes on. Threads wait on the workers, so the
event loop stays free for bookkeeping.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from upstage_assets.local_engine.isolation import EngineLimits, EnginePool
from upstage_assets.schemas.classification import DocumentLabel
from upstage_assets.schemas.extraction import ExtractionSchema
from upstage_assets.schemas.ie_response import fields_from_ie_response
from upstage_assets.storage.billing import PRODUCTS
from upstage_assets.upstage_api.parser import (
    ClassificationResult,
    DocumentParser,
    ExtractionResult,
    ParseOptions,
    SourceDocument,
)


class LocalParser(DocumentParser):
    backend = "local"

    def __init__(self, ocr: str, device: str | None, max_workers: int, limits: EngineLimits | None = None):
        self.ocr = ocr
        self.device = device
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="local-engine")
        self._engines = EnginePool(max_workers, limits or EngineLimits.from_env())

    async def parse(self, document: SourceDocument, options: ParseOptions) -> dict[str, Any]:
        from upstage_assets.local_engine.document_parse import parse_document

        ocr = options.ocr if options.ocr != "auto" else self.ocr
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: self._engines.call(
            parse_document, document.data, mime_type=document.mime_type, ocr=ocr,
            output_formats=options.output_formats, coordinates=options.coordinates,
            base64_encoding=options.base64_encoding, device=self.device))

    async def extract(self, document: SourceDocument, schema: ExtractionSchema,
                      parsed: dict[str, Any] | None = None) -> ExtractionResult:
        from upstage_assets.local_engine.kie import information_extraction_response

        if parsed is None:
            parsed = await self.parse(document, ParseOptions())
        layout = parsed
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self._pool, lambda: self._engines.call(
            information_extraction_response, layout, schema.response_format, location=True, confidence=True,
            numeric_confidence=True, sources=True))
        fields = fields_from_ie_response(response, list(schema.properties))
        return ExtractionResult(response=response, fields=fields, pages_billed=0)

    async def classify(self, document: SourceDocument, labels: list[DocumentLabel],
                       parsed: dict[str, Any] | None = None) -> ClassificationResult:
        """The local classifier over the page text and layout (``local_engine.classify``); nothing billed."""
        from upstage_assets.local_engine.classify import classify_parsed

        if parsed is None:
            parsed = await self.parse(document, ParseOptions())
        layout = parsed
        loop = asyncio.get_running_loop()
        classification = await loop.run_in_executor(self._pool, lambda: classify_parsed(layout, labels))
        return ClassificationResult(classification, {"model": classification.classified_by,
                                                     "label": classification.label}, 0)

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._engines.close()


class LocalEngineResource(ConfigurableResource):
    """Parse and extract on this machine: no key, no network, GPU for preprocessing when present."""

    ocr: str = Field(default="auto", description="auto: text layer where present, OCR elsewhere; force: OCR all")
    device: str | None = Field(default=None, description="device for OCR (onnxruntime's CUDA provider), e.g. cuda:0")
    max_workers: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1),
                             description="parallel engine calls (worker processes) per step")
    timeout_s: float = Field(default_factory=lambda: EngineLimits.from_env().timeout_s,
                             description="seconds one engine call on one document may take (engine_timeout past it)")
    memory_mb: int = Field(default_factory=lambda: EngineLimits.from_env().memory_mb or 0,
                           description="address-space cap of an engine worker in MB, 0 for none (engine_crashed past it)")

    @property
    def backend(self) -> str:
        return "local"

    @property
    def backend_label(self) -> str:
        """What lineage and the UI call this backend."""
        return "local"

    def product_prices(self, parse_mode: str = "standard") -> dict[str, float]:
        return dict.fromkeys(PRODUCTS, 0.0)  # nothing is billed

    def create_parser(self) -> DocumentParser:
        device = self.device or os.environ.get("UPSTAGE_ASSETS_DEVICE")
        # CUDA reserves far more address space than it uses: on a GPU only the time limit applies.
        memory = None if device and device.startswith("cuda") else (self.memory_mb or None)
        return LocalParser(self.ocr, device, self.max_workers, EngineLimits(self.timeout_s, memory))
