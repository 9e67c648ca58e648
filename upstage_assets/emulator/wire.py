"""Request parsing quirks the real API tolerates and real clients rely on (contract section 1).

List fields arrive as JSON (``["html","markdown"]``), Python literals (``"['table']"``), a bare
word (``html``) or comma-separated text; booleans as true/false in any case, 1/0 or yes/no.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

from upstage_assets.emulator.api_errors import ApiError

OUTPUT_FORMATS = ("html", "markdown", "text")
OCR_MODES = ("auto", "force")
PARSE_MODES = ("standard", "enhanced", "auto")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def parse_list_field(name: str, raw: str | list[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Accept every list spelling seen in SDKs; a repeated form field arrives as a Python list."""
    if raw is None:
        return default
    if isinstance(raw, list):
        items: list[str] = []
        for one in raw:
            items.extend(parse_list_field(name, one, ()))
        return tuple(items)
    text = raw.strip()
    if text == "":
        return ()
    if text.startswith(("[", "(", "{")):
        value: Any
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise ApiError(400, f"{name}: cannot read {raw!r} as a list", "invalid_parameter") from None
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ApiError(400, f"{name}: expected a list of strings, got {raw!r}", "invalid_parameter")
        return tuple(v.strip() for v in value)
    return tuple(part.strip().strip("'\"") for part in text.split(",") if part.strip())


def parse_bool_field(name: str, raw: str | bool | None, default: bool) -> bool:
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    text = raw.strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ApiError(400, f"{name}: expected a boolean (true/false), got {raw!r}", "invalid_parameter")


def parse_choice(name: str, raw: str | None, choices: tuple[str, ...], default: str) -> str:
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ApiError(400, f"{name}: expected one of {', '.join(choices)}, got {raw!r}", "invalid_parameter")
    return value


@dataclass(frozen=True)
class ResolvedParseRequest:
    """The Document Parse fields after the quirks are resolved; hashable for the result cache."""

    model: str
    mode: str = "standard"
    ocr: str = "auto"
    output_formats: tuple[str, ...] = ("html",)
    coordinates: bool = True
    chart_recognition: bool = True
    merge_multipage_tables: bool = False
    base64_encoding: tuple[str, ...] = ()

    @property
    def is_ocr(self) -> bool:
        return self.model == "ocr" or self.model.startswith("ocr-")


def resolve_model(raw: str | None, *, default: str | None) -> str:
    """Accept the aliases and dated snapshots of Document Parse and OCR; anything else is a 400."""
    model = (raw or "").strip() or default
    if not model:
        raise ApiError(400, "model is required: use document-parse or ocr", "invalid_model_name")
    if model == "ocr" or model.startswith("ocr-") or model == "document-parse" or model.startswith("document-parse-"):
        return model
    raise ApiError(400, f"invalid model name {model!r}", "invalid_model_name")


def parse_options(form: dict[str, Any], *, default_model: str | None) -> ResolvedParseRequest:
    """Read the multipart fields of a Document Parse / OCR request."""
    model = resolve_model(_text(form.get("model")), default=default_model)
    formats = parse_list_field("output_formats", form.get("output_formats"), ("html",))
    unknown = [f for f in formats if f not in OUTPUT_FORMATS]
    if unknown:
        raise ApiError(400, f"output_formats: unknown format(s) {unknown}; use html, markdown, text",
                       "invalid_parameter")
    mode = parse_choice("mode", _text(form.get("mode")), PARSE_MODES, "standard")
    return ResolvedParseRequest(
        model=model,
        mode=mode,
        ocr=parse_choice("ocr", _text(form.get("ocr")), OCR_MODES, "auto"),
        output_formats=formats,
        coordinates=parse_bool_field("coordinates", _text(form.get("coordinates")), True),
        chart_recognition=parse_bool_field("chart_recognition", _text(form.get("chart_recognition")), True),
        merge_multipage_tables=parse_bool_field(
            "merge_multipage_tables", _text(form.get("merge_multipage_tables")), False),
        base64_encoding=parse_list_field("base64_encoding", form.get("base64_encoding"), ()),
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return _text(value[0]) if value else None
    raise ApiError(400, "expected a text field, got a file", "invalid_parameter")
