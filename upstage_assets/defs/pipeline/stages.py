"""The four per-document stages, free of Dagster so they can be called and tested directly.

Each stage reads what the previous one stored (or gets it handed over in memory when both
run in the same step), does its work, stores its result atomically and returns the
metadata shown in the UI. ``run_validate`` stores nothing itself: its row goes to the Delta
tables with the rest of a batch (``defs/pipeline/table_commits.py``). Errors are ``DocumentError``s; the caller records them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from upstage_assets.defs.pipeline.routing import DocumentTypePolicy, Route, route_document
from upstage_assets.errors import (
    ContentChanged,
    DocumentError,
    DocumentTooLarge,
    ExtractionFailed,
    UpstreamMissing,
)
from upstage_assets.ingest.naming import sha256_hex
from upstage_assets.inspection import DocumentLimits, inspect_document
from upstage_assets.schemas.extraction import ExtractionSchema
from upstage_assets.storage.billing import (
    CLASSIFICATION,
    EXTRACTION,
    PARSE,
    PRODUCTS,
    ProductUsage,
    keep_lost_answers,
    lost_since_stored,
    stage_metadata,
    write_usage,
)
from upstage_assets.storage.delta import table_location
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import ObjectStore
from upstage_assets.storage.registry import DocumentRecord, DocumentRegistry
from upstage_assets.storage.summaries import write_tracked
from upstage_assets.storage.table_writer import TableRow
from upstage_assets.unicode_text import valid_text, valid_unicode
from upstage_assets.upstage_api.parser import (
    ClassificationResult,
    DocumentParser,
    ParseOptions,
    SourceDocument,
)
from upstage_assets.upstage_api.usage import pages_billed as response_pages_billed
from upstage_assets.validation import Lineage, ValidationOutcome, quarantine_unextracted, validate_fields

PREVIEW_CHARS = 1500


@dataclass
class StageEnv:
    """Everything a stage needs, built once per step."""

    store: ObjectStore
    layout: OutputLayout
    registry: DocumentRegistry
    parser: DocumentParser
    backend: str
    read_source: Any  # callable(uri) -> bytes
    limits: DocumentLimits
    parse_options: ParseOptions
    schema_for: Any  # callable(name) -> ExtractionSchema
    prices: dict[str, float] = field(default_factory=dict)  # USD per billed page, per product (billing.PRODUCTS)
    document_types: DocumentTypePolicy = field(default_factory=DocumentTypePolicy)  # routing.py


@dataclass
class DocumentState:
    """What one document has accumulated so far in this step."""

    document_id: str
    record: DocumentRecord | None = None
    data: bytes | None = None
    classifications: dict[tuple[tuple[str, str], ...], ClassificationResult] = field(default_factory=dict)
    raw: dict[str, Any] | None = None
    parsed: dict[str, Any] | None = None
    kie: dict[str, Any] | None = None
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    table_row: TableRow | None = None  # the validated/quarantine row, committed by the step in a batch
    extra_table_rows: list[TableRow] = field(default_factory=list)  # rows of further schemas of the bytes


async def _write_json(env: StageEnv, key: str, obj: Any) -> str:
    data = json.dumps(valid_unicode(obj), ensure_ascii=False, default=str).encode()
    return await asyncio.to_thread(env.store.write_bytes, key, data)


async def _read_json(env: StageEnv, key: str, what: str, document_id: str) -> Any:
    exists = await asyncio.to_thread(env.store.exists, key)
    if not exists:
        raise UpstreamMissing(f"{what} has no stored result for document {document_id}; materialize it first")
    return json.loads(await asyncio.to_thread(env.store.read_bytes, key))


async def load_record(env: StageEnv, state: DocumentState) -> DocumentRecord:
    if state.record is None:
        record = await asyncio.to_thread(env.registry.get, state.document_id)
        if record is None:
            raise UpstreamMissing(f"document {state.document_id} is not in the registry; register it first "
                                  "(the inbox sensor or `upstage-assets ingest` does)")
        state.record = record
    return state.record


async def load_bytes(env: StageEnv, state: DocumentState) -> bytes:
    if state.data is None:
        record = await load_record(env, state)
        data = await asyncio.to_thread(env.read_source, record.source_uri)
        if sha256_hex(data) != record.sha256:
            raise ContentChanged(f"the bytes at {record.source_uri} changed since registration; the new bytes "
                                 "are a new document (register them again)")
        state.data = data
    return state.data


async def source_document(env: StageEnv, state: DocumentState) -> SourceDocument:
    raw = await ensure_raw(env, state)
    data = await load_bytes(env, state)
    return SourceDocument(state.document_id, raw["filename"], data, raw["mime_type"], int(raw["page_count"]))


async def run_raw(env: StageEnv, state: DocumentState) -> dict[str, Any]:
    record = await load_record(env, state)
    if record.size_bytes > env.limits.max_bytes:  # the run's limit, checked before reading the bytes
        raise DocumentTooLarge(f"the document is {record.size_bytes:,} bytes; the limit is "
                               f"{env.limits.max_bytes:,} bytes")
    data = await load_bytes(env, state)
    info = inspect_document(data, env.limits)
    raw = {"document_id": state.document_id, "source_uri": record.source_uri, "sha256": record.sha256,
           "size_bytes": info.size_bytes, "mime_type": info.mime_type, "page_count": info.page_count,
           "filename": record.filename, "schema": record.schema, "width_px": info.width_px,
           "height_px": info.height_px, "registered_at": record.registered_at}
    raw = valid_unicode(raw)  # a file name may carry undecodable bytes (surrogate escapes)
    encoded = json.dumps(raw, ensure_ascii=False, default=str).encode()  # page counts are summarised: tracked
    path = await asyncio.to_thread(write_tracked, env.store, env.layout, env.layout.raw_key(state.document_id),
                                   encoded)
    state.raw = raw
    return {"source_uri": raw["source_uri"], "filename": raw["filename"], "sha256": record.sha256,
            "size_bytes": info.size_bytes, "mime_type": info.mime_type, "pages": info.page_count,
            "schema": record.schema, "path": path}


async def ensure_raw(env: StageEnv, state: DocumentState) -> dict[str, Any]:
    if state.raw is None:
        state.raw = await _read_json(env, env.layout.raw_key(state.document_id), "raw_documents", state.document_id)
    return state.raw


def _element_counts(parsed: dict[str, Any]) -> dict[str, int]:
    return dict(Counter(e.get("category", "unknown") for e in parsed.get("elements", [])))


async def run_parse(env: StageEnv, state: DocumentState) -> dict[str, Any]:
    document = await source_document(env, state)
    parsed = valid_unicode(await env.parser.parse(document, env.parse_options))
    path = await _write_json(env, env.layout.parsed_key(state.document_id), parsed)
    state.parsed = parsed
    usage = await _bill(env, state.document_id, PARSE, response_pages_billed(parsed))
    markdown = (parsed.get("content") or {}).get("markdown") or (parsed.get("content") or {}).get("text") or ""
    return {"pages": document.page_count, **stage_metadata([usage]),
            "elements": len(parsed.get("elements", [])), "elements_by_category": _element_counts(parsed),
            "backend": env.backend, "model": parsed.get("model", ""),
            "preview": markdown[:PREVIEW_CHARS] or "_(no text found)_", "path": path}


async def _bill(env: StageEnv, document_id: str, product: str, pages: int) -> ProductUsage:
    """Record what this product billed for the document (``usage/``) and return its figures; the
    pages possibly billed twice are this run's lost answers plus those failed runs left behind."""
    lost = _take_lost_answer_pages(env, document_id, product)
    if _loses_answers(env):
        lost += await asyncio.to_thread(lost_since_stored, env.store, env.layout, document_id, product)
    usage = ProductUsage(product, int(pages), float(env.prices.get(product, 0.0)), possibly_billed_twice=lost)
    await asyncio.to_thread(write_usage, env.store, env.layout, document_id, usage)
    return usage


def _loses_answers(env: StageEnv) -> bool:
    """An API client can lose a billed answer (a timeout); the local engine cannot."""
    return callable(getattr(env.parser, "take_lost_answer_pages", None))


def _take_lost_answer_pages(env: StageEnv, document_id: str, product: str) -> int:
    return int(env.parser.take_lost_answer_pages(document_id, product)) if _loses_answers(env) else 0  # type: ignore[attr-defined]


async def keep_lost_answers_of_failed_stage(env: StageEnv, document_id: str) -> None:
    """A stage failed: the pages of answers it lost (maybe billed, nothing stored) go to the document's
    usage records, so the run that finally stores its result counts them as possibly billed twice."""
    for product in PRODUCTS:
        lost = _take_lost_answer_pages(env, document_id, product)
        if lost:
            await asyncio.to_thread(keep_lost_answers, env.store, env.layout, document_id, product, lost,
                                    float(env.prices.get(product, 0.0)))


async def ensure_parsed(env: StageEnv, state: DocumentState) -> dict[str, Any]:
    if state.parsed is None:
        state.parsed = await _read_json(env, env.layout.parsed_key(state.document_id), "parsed_layouts",
                                        state.document_id)
    return state.parsed


def _fields_markdown(fields: dict[str, dict[str, Any]]) -> str:
    lines = ["| field | value | confidence | page |", "|---|---|---|---|"]
    for name, f in fields.items():
        value = f.get("value")
        shown = json.dumps(value, ensure_ascii=False)[:80] if isinstance(value, list | dict) else str(value)
        shown = shown.replace("|", "\\|").replace("\n", " ")
        confidence = f.get("confidence")
        lines.append(f"| {name} | {shown if value not in (None, '') else '—'} | "
                     f"{'' if confidence is None else f'{confidence:.2f}'} | {f.get('page') or ''} |")
    return "\n".join(lines)


async def run_kie(env: StageEnv, state: DocumentState) -> dict[str, Any]:
    """Extract with every schema the document was registered under (one parse, shared, paid once).

    Two products are billed here, each at its own price: the classification that routed or
    checked the document (when one was asked) and the extractions."""
    record = await load_record(env, state)
    names = record.all_schemas()
    shown: dict[str, Any] = {}
    extraction_pages = classification_pages = 0
    classified = False
    for index, name in enumerate(names):
        kie, metadata = await _extract(env, state, name, primary=index == 0)
        extraction_pages += int(kie["pages_billed"] or 0)
        classification_pages += int(kie.get("pages_billed_classification") or 0)
        classified = classified or kie.get("document_class") is not None
        shown = shown or metadata
    usages = [await _bill(env, state.document_id, CLASSIFICATION, classification_pages)] if classified else []
    usages.append(await _bill(env, state.document_id, EXTRACTION, extraction_pages))
    return {**stage_metadata(usages), **shown, **({"schemas": ", ".join(names)} if len(names) > 1 else {})}


async def _route(env: StageEnv, state: DocumentState, name: str) -> Route:
    """The document's schema by its class (``routing.py``); one classification per label set."""
    parsed = await ensure_parsed(env, state)
    document = await source_document(env, state)

    async def classify(labels: list[Any]) -> ClassificationResult:
        key = tuple(sorted((label.name, label.description) for label in labels))  # the same labels, one call
        if key in state.classifications:  # asked and paid for already (another schema of the same bytes)
            return dataclasses.replace(state.classifications[key], pages_billed=0)
        try:
            state.classifications[key] = await env.parser.classify(document, labels, parsed)
        except DocumentError:
            raise
        except (KeyError, ValueError, TypeError) as exc:
            raise ExtractionFailed(f"the classification could not be read: {type(exc).__name__}: {exc}") from exc
        return state.classifications[key]

    return await route_document(env.document_types, env.schema_for, classify, name)


async def _extract(env: StageEnv, state: DocumentState, name: str, *, primary: bool) -> tuple[dict[str, Any],
                                                                                            dict[str, Any]]:
    parsed = await ensure_parsed(env, state)
    route = await _route(env, state, name)
    schema: ExtractionSchema | None = route.schema
    common = {"document_id": state.document_id, "schema_ref": route.schema_ref, "backend": env.backend,
              **route.columns(), "extracted_at": datetime.now(UTC).isoformat()}
    if route.reason:  # quarantined by its class: never extracted, nothing billed for extraction
        kie = {**common, "schema_name": route.table, "schema_version": schema.version if schema else "",
               "model": route.response.get("model", ""), "pages_billed": 0,
               "pages_billed_classification": route.pages_billed, "fields": {},
               "response": {}, "skipped": route.reason, "skipped_detail": route.detail}
        path = await _write_json(env, env.layout.kie_key(state.document_id, None if primary else name), kie)
        if primary:
            state.kie = kie
        return kie, {"schema": route.table, **_class_metadata(route), "skipped": f"{route.reason}: {route.detail}",
                     "path": path}
    assert schema is not None
    document = await source_document(env, state)
    try:
        result = await env.parser.extract(document, schema, parsed)
    except DocumentError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise ExtractionFailed(f"the extraction response could not be read: {type(exc).__name__}: {exc}") from exc
    result.fields, result.response = valid_unicode(result.fields), valid_unicode(result.response)
    found = [n for n, f in result.fields.items() if f.get("value") not in (None, "", [])]
    confidences = [f["confidence"] for f in result.fields.values() if isinstance(f.get("confidence"), float)]
    kie = {**common, "schema_name": schema.name, "schema_version": schema.version,
           "model": result.response.get("model", ""),
           "pages_billed": result.pages_billed, "pages_billed_classification": route.pages_billed,
           "fields": result.fields,
           "response": result.response}
    path = await _write_json(env, env.layout.kie_key(state.document_id, None if primary else name), kie)
    if primary:
        state.kie = kie
    return kie, {"schema": schema.name, "schema_version": schema.version, **_class_metadata(route),
                 "fields_found": f"{len(found)}/{len(result.fields)}",
                 "mean_confidence": round(sum(confidences) / len(confidences), 3) if confidences else None,
                 "fields": _fields_markdown(result.fields), "model": kie["model"], "path": path}


def _class_metadata(route: Route) -> dict[str, Any]:
    return {k: v for k, v in route.columns().items() if v is not None}


async def ensure_kie(env: StageEnv, state: DocumentState) -> dict[str, Any]:
    if state.kie is None:
        state.kie = await _read_json(env, env.layout.kie_key(state.document_id), "kie_fields", state.document_id)
    return state.kie


async def run_validate(env: StageEnv, state: DocumentState) -> dict[str, Any]:
    """One typed row per schema the document was extracted with; the primary schema's outcome is shown."""
    record = await load_record(env, state)
    shown: dict[str, Any] = {}
    for index, name in enumerate(record.all_schemas()):
        if index == 0:
            kie = await ensure_kie(env, state)
        else:
            kie = await _read_json(env, env.layout.kie_key(state.document_id, name), "kie_fields", state.document_id)
        metadata = await _validate_one(env, state, record, name, kie, primary=index == 0)
        shown = shown or metadata
    return shown


async def _validate_one(env: StageEnv, state: DocumentState, record: DocumentRecord, name: str,
                        kie: dict[str, Any], *, primary: bool) -> dict[str, Any]:
    raw = await ensure_raw(env, state)
    if kie.get("skipped"):
        return await _quarantine_by_class(env, state, record, kie, primary=primary)
    schema = env.schema_for(kie.get("schema_ref") or name)
    parsed = state.parsed if state.parsed is not None else await ensure_parsed(env, state)
    pages_billed = _document_pages_billed(parsed, kie)
    lineage = Lineage(document_id=state.document_id, source_uri=raw["source_uri"], sha256=raw["sha256"],
                      backend=kie.get("backend", env.backend), model=kie.get("model", ""),
                      pages_billed=pages_billed,
                      source_metadata={valid_text(str(k)): valid_text(str(v)) for k, v in record.extra.items()},
                      document_class=kie.get("document_class"), class_confidence=kie.get("class_confidence"))
    if kie.get("schema_version") != schema.version:
        raise UpstreamMissing(f"kie_fields of {state.document_id} was extracted with schema version "
                              f"{kie.get('schema_version')}, the schema is now {schema.version}: re-run kie_fields")
    outcome = validate_fields(kie["fields"], schema, lineage)
    return _keep_row(env, state, schema.name, outcome, pages_billed, kie, primary=primary)


async def _quarantine_by_class(env: StageEnv, state: DocumentState, record: DocumentRecord,
                               kie: dict[str, Any], *, primary: bool) -> dict[str, Any]:
    """A document its class kept from extraction: one quarantine row with the reason, in its table."""
    raw = await ensure_raw(env, state)
    parsed = state.parsed if state.parsed is not None else await ensure_parsed(env, state)
    pages_billed = _document_pages_billed(parsed, kie)
    lineage = Lineage(document_id=state.document_id, source_uri=raw["source_uri"], sha256=raw["sha256"],
                      backend=kie.get("backend", env.backend), model=kie.get("model", ""), pages_billed=pages_billed,
                      document_class=kie.get("document_class"), class_confidence=kie.get("class_confidence"))
    reason = f"{kie['skipped']}: {kie.get('skipped_detail') or ''}".rstrip(": ")
    outcome = quarantine_unextracted(kie["schema_name"], kie.get("schema_version") or "", lineage, [reason])
    return _keep_row(env, state, kie["schema_name"], outcome, pages_billed, kie, primary=primary)


def _document_pages_billed(parsed: dict[str, Any], kie: dict[str, Any]) -> int:
    """The table's lineage column: every product's billed pages for the document (parse,
    classification, extraction); status and tags show them apart."""
    return (response_pages_billed(parsed) + int(kie.get("pages_billed") or 0)
            + int(kie.get("pages_billed_classification") or 0))


def _keep_row(env: StageEnv, state: DocumentState, table: str, outcome: ValidationOutcome, pages_billed: int,
              kie: dict[str, Any], *, primary: bool) -> dict[str, Any]:
    """Hand the row to the step's Delta commit (``table_commits.py``); the metadata the UI shows."""
    row = TableRow(state.document_id, table, outcome.table, outcome.quarantined)
    if primary:
        state.table_row = row
    else:
        state.extra_table_rows.append(row)
    area = env.layout.quarantine if outcome.quarantined else env.layout.tables
    return {"status": "quarantined" if outcome.quarantined else "validated", "rows": 1,
            "reasons": "; ".join(outcome.reasons) or "none", "table": table,
            **{k: kie[k] for k in ("document_class", "class_confidence") if kie.get(k) is not None},
            "pages_billed_total": pages_billed, "path": table_location(env.store, area, table).uri}
