"""One Markdown file per document, from its parsed layout (what a person or an LLM reads)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from upstage_assets.exporters.base import ExportResult, ExportSource
from upstage_assets.redaction import redact
from upstage_assets.unicode_text import valid_text


def document_markdown(parsed: dict[str, Any]) -> str:
    """The response's markdown, else the elements' markdown (or text) in reading order."""
    content = parsed.get("content") or {}
    if content.get("markdown"):
        return str(content["markdown"])
    parts = [(e.get("content") or {}).get("markdown") or (e.get("content") or {}).get("text") or ""
             for e in parsed.get("elements", [])]
    return "\n\n".join(p for p in parts if p) or str(content.get("text") or "")


def export_markdown(source: ExportSource, out_dir: Path, *, schemas: Iterable[str] | None = None,
                    progress: Any = None, **_: Any) -> ExportResult:
    result = ExportResult()
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = set(schemas or ())
    registry = source.registry
    for document_id in source.document_ids(source.layout.parsed):
        try:
            written = _write_document(source, registry, document_id, wanted, out_dir)
        except Exception as exc:  # one unreadable result is reported; the other documents are exported
            result.skipped.append((document_id, f"{type(exc).__name__}: {redact(str(exc))[:200]}"))
            continue
        if written is None:
            continue
        result.files.append(written)
        result.records += 1
        if progress is not None:
            progress.update(1)
    return result


def _write_document(source: ExportSource, registry: Any, document_id: str, wanted: set[str],
                    out_dir: Path) -> Path | None:
    record = registry.get(document_id)
    if wanted and (record is None or record.schema not in wanted):
        return None
    parsed = source.read_json(source.layout.parsed_key(document_id))
    header = [f"<!-- document_id: {document_id} -->"]
    if record is not None:
        header += [f"<!-- source: {record.source_uri} -->", f"<!-- schema: {record.schema} -->"]
    path = out_dir / f"{document_id}.md"
    tmp = path.with_name(f".{path.name}.tmp")
    text = "\n".join(header) + "\n\n" + document_markdown(parsed).rstrip() + "\n"
    tmp.write_text(valid_text(text), encoding="utf-8")
    tmp.replace(path)
    return path
