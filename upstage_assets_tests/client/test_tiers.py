"""Tier presets (UPSTAGE_TIER) with per-field overrides, rate-limit buckets per key, and the API's
rate-limit headers kept and compared with the configuration, over real HTTP against the emulator."""

from __future__ import annotations

import asyncio

import pytest

from upstage_assets.defs.resources import build_parser_resource
from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.resources.upstage_client import UpstageClient
from upstage_assets.schemas.extraction import load_schema
from upstage_assets.settings import Settings
from upstage_assets.upstage_api.parser import ParseOptions, SourceDocument
from upstage_assets.upstage_api.tiers import tier_limits
from upstage_assets_tests.emulator.conftest import make_pdf


def test_each_tier_sets_every_endpoint_and_the_extraction_rate_follows_the_documented_table():
    assert [tier_limits(t)["extract_requests_per_second"] for t in ("payg", "explore", "build", "scale")] == \
        [1.0, 10.0, 20.0, 40.0]
    payg, scale = tier_limits("payg"), tier_limits("Scale")
    assert payg["parse_requests_per_second"] == 1.0 and payg["parse_pages_per_minute"] == 300.0
    assert payg["async_requests_per_second"] == 2.0 and payg["async_pages_per_minute"] == 1200.0
    assert scale["parse_requests_per_second"] == 3.0 and scale["async_requests_per_second"] == 6.0
    assert int(scale["max_in_flight"]) >= (3 + 40) * 3  # enough requests in flight for 3-second answers


def test_an_unknown_tier_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match="UPSTAGE_TIER='gold'"):
        Settings.from_env({"UPSTAGE_TIER": "gold"})


def test_the_tier_presets_the_client_and_each_client_variable_overrides_its_own_field():
    settings = Settings.from_env({"UPSTAGE_TIER": "build", "UPSTAGE_ASSETS_BACKEND": "upstage",
                                  "UPSTAGE_CLIENT_PARSE_REQUESTS_PER_SECOND": "12"})
    client = build_parser_resource(settings)
    assert isinstance(client, UpstageClient)
    assert client.extract_requests_per_second == 20.0  # the tier
    assert client.parse_requests_per_second == 12.0  # the override
    assert client.max_in_flight == tier_limits("build")["max_in_flight"]
    untiered = build_parser_resource(Settings.from_env({"UPSTAGE_ASSETS_BACKEND": "upstage"}))
    assert untiered.extract_requests_per_second == 1.0  # tier-0 defaults without UPSTAGE_TIER


async def _parse_and_extract(client: UpstageClient, document: bytes) -> tuple[dict, list[str]]:
    parser = client.create_parser()
    source = SourceDocument("doc", "d.pdf", document, "application/pdf", 1)
    try:
        parsed = await parser.parse(source, ParseOptions())
        await parser.extract(source, load_schema("invoice"), parsed)
    finally:
        await parser.aclose()
    return parser.rate_limit_report()


def test_rate_limit_headers_are_kept_and_a_disagreeing_configuration_is_named(tmp_path):
    limits = {"document-parse": 5.0, "information-extraction": 5.0}
    with run_emulator_in_thread(EmulatorSettings(rps_limits=limits)) as emulator:
        client = UpstageClient(base_url=emulator.url, api_key="up_test", parse_requests_per_second=2.0,
                               extract_requests_per_second=5.0, rate_limit_store=str(tmp_path / "state"))
        seen, disagreements = asyncio.run(_parse_and_extract(client, make_pdf(1)))
    assert seen["document-parse"]["x-ratelimit-limit-requests"] == "300"  # 5/s, stated per minute
    assert seen["information-extraction"]["x-ratelimit-limit-requests"] == "300"
    assert len(disagreements) == 1 and disagreements[0].startswith("document-parse: ")
    assert "2 requests/s" in disagreements[0] and "states 5/s" in disagreements[0]
    assert "60% of the account's rate is left unused" in disagreements[0]


def test_rate_limit_buckets_are_per_key_and_never_name_the_key():
    one, other = (UpstageClient(api_key=key) for key in ("up_key_one_secret", "up_key_two_secret"))
    assert one.limiter_account() != other.limiter_account()
    assert one.limiter_account() == UpstageClient(api_key="up_key_one_secret").limiter_account()
    assert "secret" not in one.limiter_account() and one.limiter_account().startswith("key-")
    assert UpstageClient(api_key="up_key_one_secret", account="team-a").limiter_account() == "team-a"
