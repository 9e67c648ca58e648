"""Bad input never crashes a run, never blocks the others, costs nothing, and says what is wrong."""

from __future__ import annotations

import pytest

from upstage_assets.assets.keys import PARSED_LAYOUTS, RAW_DOCUMENTS
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
