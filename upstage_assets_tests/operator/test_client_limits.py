"""Issue 22, defect 7: every limit of the client is settable by environment variable and run config."""

from __future__ import annotations

import pytest
from dagster import validate_run_config

from upstage_assets.definitions import build_definitions
from upstage_assets.resources.upstage_client import UpstageClient
from upstage_assets.settings import (
    CLIENT_ENV_PREFIX,
    CLIENT_INTEGER_LIMITS,
    CLIENT_LIMITS,
    CLIENT_PRICES,
    Settings,
)


def test_every_limit_is_a_client_field():
    assert set(CLIENT_LIMITS) <= set(UpstageClient.model_fields)
    assert set(CLIENT_PRICES) == {name for name in UpstageClient.model_fields if name.startswith("price_")}


def test_each_price_comes_from_its_environment_variable_and_prices_its_product(monkeypatch):
    """Prices are settings like the limits (0 allowed: a free tier); status and the stages price
    each product (``product_prices``) with them, classification with ``price_classify``."""
    monkeypatch.setenv("UPSTAGE_API_KEY", "any")
    env = {"UPSTAGE_ASSETS_BACKEND": "upstage", **{CLIENT_ENV_PREFIX + name.upper(): f"0.00{number}"
                                                  for number, name in enumerate(CLIENT_PRICES, start=1)}}
    env["UPSTAGE_CLIENT_PRICE_OCR"] = "0"
    parser = build_definitions(Settings.from_env(env)).resources["parser"]
    assert [getattr(parser, name) for name in CLIENT_PRICES] == [0.001, 0.002, 0.0, 0.004, 0.005, 0.006]
    assert parser.product_prices() == {"parse": 0.001, "classification": 0.006, "extraction": 0.004}
    assert parser.product_prices("enhanced")["parse"] == 0.002
    with pytest.raises(ValueError, match="UPSTAGE_CLIENT_PRICE_CLASSIFY='-1' must be 0 or more"):
        Settings.from_env({"UPSTAGE_CLIENT_PRICE_CLASSIFY": "-1"})


@pytest.mark.parametrize("backend", ["emulator", "upstage"])
def test_each_limit_comes_from_its_environment_variable(backend, monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", "any")
    env = {"UPSTAGE_ASSETS_BACKEND": backend}
    wanted = {}
    for number, name in enumerate(CLIENT_LIMITS, start=3):
        env[CLIENT_ENV_PREFIX + name.upper()] = str(number)
        wanted[name] = number
    parser = build_definitions(Settings.from_env(env)).resources["parser"]
    assert {name: getattr(parser, name) for name in CLIENT_LIMITS} == wanted
    assert all(isinstance(getattr(parser, n), int) for n in CLIENT_INTEGER_LIMITS)


def test_the_emulator_preset_no_longer_fixes_the_pace(monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", "any")
    env = {"UPSTAGE_ASSETS_BACKEND": "emulator", "UPSTAGE_CLIENT_PARSE_REQUESTS_PER_SECOND": "3",
           "UPSTAGE_CLIENT_EXTRACT_REQUESTS_PER_SECOND": "3"}
    parser = build_definitions(Settings.from_env(env)).resources["parser"]
    assert parser.parse_requests_per_second == 3 and parser.extract_requests_per_second == 3
    assert parser.endpoint_limits()["document-parse"].requests_per_second == 3


def test_bad_values_name_their_variable():
    with pytest.raises(ValueError, match="UPSTAGE_CLIENT_MAX_IN_FLIGHT='many' is not a whole number"):
        Settings.from_env({"UPSTAGE_CLIENT_MAX_IN_FLIGHT": "many"})
    with pytest.raises(ValueError, match="UPSTAGE_CLIENT_PARSE_REQUESTS_PER_SECOND='0' must be above 0"):
        Settings.from_env({"UPSTAGE_CLIENT_PARSE_REQUESTS_PER_SECOND": "0"})


def test_run_config_overrides_the_environment_for_one_run(monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", "any")
    settings = Settings.from_env({"UPSTAGE_ASSETS_BACKEND": "emulator", "UPSTAGE_CLIENT_PARSE_REQUESTS_PER_SECOND": "3"})
    job = build_definitions(settings).resolve_job_def("process_documents")
    default = validate_run_config(job, {})
    assert default["resources"]["parser"]["config"]["parse_requests_per_second"] == 3
    # Dagster asks for the whole resource config once any of it is given: the key stays an env reference.
    resolved = validate_run_config(job, {"resources": {"parser": {"config": {
        "api_key": {"env": "UPSTAGE_API_KEY"}, "parse_requests_per_second": 1.5, "max_in_flight": 2}}}})
    config = resolved["resources"]["parser"]["config"]
    assert config["parse_requests_per_second"] == 1.5 and config["max_in_flight"] == 2
