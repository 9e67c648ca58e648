"""The request spellings real SDKs send: list fields as JSON or Python literals, booleans in any case."""

from __future__ import annotations

import pytest

from upstage_assets.emulator.api_errors import ApiError
from upstage_assets.emulator.wire import parse_bool_field, parse_list_field, parse_options


@pytest.mark.parametrize("raw, expected", [
    ('["html","markdown"]', ("html", "markdown")),
    ("['html', 'text']", ("html", "text")),
    ("['table']", ("table",)),
    ("html", ("html",)),
    ("html,markdown", ("html", "markdown")),
    (["html", "markdown"], ("html", "markdown")),  # repeated form field
    ("[]", ()),
    ("", ()),
])
def test_list_fields_in_every_spelling(raw, expected):
    assert parse_list_field("output_formats", raw, ("html",)) == expected


def test_missing_list_field_takes_the_default():
    assert parse_list_field("output_formats", None, ("html",)) == ("html",)


@pytest.mark.parametrize("raw", ["[html", "[1, 2]", "{'a': 1}"])
def test_unreadable_lists_are_400(raw):
    with pytest.raises(ApiError) as caught:
        parse_list_field("base64_encoding", raw, ())
    assert caught.value.status == 400


@pytest.mark.parametrize("raw, expected", [
    ("true", True), ("True", True), ("TRUE", True), ("1", True), ("yes", True),
    ("false", False), ("False", False), ("FALSE", False), ("0", False), ("no", False),
])
def test_booleans_in_any_case(raw, expected):
    assert parse_bool_field("coordinates", raw, not expected) is expected


def test_bad_boolean_is_400():
    with pytest.raises(ApiError) as caught:
        parse_bool_field("coordinates", "maybe", True)
    assert caught.value.status == 400


def test_parse_options_defaults_and_quirks():
    defaults = parse_options({"model": "document-parse"}, default_model=None)
    assert (defaults.ocr, defaults.output_formats, defaults.coordinates, defaults.base64_encoding) == \
        ("auto", ("html",), True, ())
    quirky = parse_options({"model": "document-parse-260930", "ocr": "Force", "coordinates": "False",
                            "output_formats": "['markdown', 'text']", "base64_encoding": '["table"]',
                            "chart_recognition": "false", "mode": "enhanced", "x-unknown": "ignored"},
                           default_model=None)
    assert (quirky.ocr, quirky.coordinates, quirky.output_formats, quirky.base64_encoding) == \
        ("force", False, ("markdown", "text"), ("table",))
    assert quirky.mode == "enhanced" and quirky.chart_recognition is False
    assert parse_options({"model": "ocr"}, default_model=None).is_ocr


@pytest.mark.parametrize("fields", [
    {"model": "document-parse", "output_formats": "['pdf']"},
    {"model": "document-parse", "ocr": "sometimes"},
    {"model": "document-parse", "mode": "turbo"},
    {"model": "layout-analysis"},
    {},
])
def test_bad_parse_fields_are_400(fields):
    with pytest.raises(ApiError) as caught:
        parse_options(fields, default_model=None)
    assert caught.value.status == 400
