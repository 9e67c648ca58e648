"""Bad input never crashes a run, never blocks the others, costs nothing, and says what is wrong."""

from __future__ import annotations

import pytest

from upstage_assets.defs.pipeline.keys import PARSED_LAYOUTS, RAW_DOCUMENTS
from upstage_assets_tests.reliability.bad_input_run import judge, run_bad_inputs
from upstage_assets_tests.reliability.bad_inputs import write_bad_inputs

KEY = "sentinel-upstage-key-for-bad-input"


@pytest.mark.slow
def test_every_bad_input_is_recorded_with_its_own_error_and_refused_ones_cost_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", KEY)
    cases = write_bad_inputs(tmp_path / "data" / "inbox")
    report = run_bad_inputs(tmp_path, api_key=KEY, selection=(RAW_DOCUMENTS, PARSED_LAYOUTS))

    assert judge(report, cases) == []
    accepted = [c for c in cases.values() if not c.refused_before_api]
    assert report.parse_requests == len(accepted), "refused documents were never sent to the API"
    assert report.registration_rss_growth_mib < 200, "the 1 GB file was refused without being read"


def test_a_lower_size_limit_in_run_config_refuses_before_reading_and_a_raised_one_lets_it_through(
        tmp_path, monkeypatch):
    from upstage_assets_tests.reliability.bad_inputs import pdf_bytes

    monkeypatch.setenv("UPSTAGE_API_KEY", KEY)
    inbox = tmp_path / "data" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "big-enough.pdf").write_bytes(pdf_bytes(3))
    small = {"ops": {"document_pipeline": {"config": {"max_document_bytes": 500}}}}
    report = run_bad_inputs(tmp_path, api_key=KEY, selection=(RAW_DOCUMENTS,), run_config=small)
    outcome = report.outcomes["big-enough.pdf"]
    assert outcome.error_code == "too_large" and "limit is 500 bytes" in (outcome.message or "")
    assert outcome.in_run_failure_metadata and report.parse_requests == 0
