"""Issue 22, defect 9: requests sent again after a lost answer are recorded as possibly billed twice."""

from __future__ import annotations

import httpx
import pytest
from dagster import DagsterEventType

from upstage_assets.defs.pipeline.keys import KIE_FIELDS, PARSED_LAYOUTS
from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets_tests.operator.conftest import Operator, write_pdfs


def _warm_up_the_engine() -> None:
    """Load the local engine (and any learned model) in this process, where the emulator thread runs
    it: a first request that pays the loading could outlast the read timeout and count as a loss
    nobody injected."""
    from upstage_assets.local_engine.document_parse import parse_document
    from upstage_assets.local_engine.kie import information_extraction_response
    from upstage_assets.schemas.extraction import load_schema
    from upstage_assets_tests.emulator.conftest import make_pdf

    parsed = parse_document(make_pdf(1), mime_type="application/pdf")
    information_extraction_response(parsed, load_schema("invoice").response_format, location=True, confidence=True)


@pytest.mark.slow
def test_lost_answers_show_as_possibly_billed_twice_in_status_and_metadata(data_root, tmp_path, monkeypatch, capsys):
    """The emulator holds some requests past the client's read timeout (injected timeouts): the
    client gives up on the answer and sends the request again."""
    _warm_up_the_engine()  # the emulator's own work must stay well inside the read timeout
    settings = EmulatorSettings(seed=5, fault_rate_timeout=0.3, timeout_hold_s=4.0)
    with run_emulator_in_thread(settings) as emulator:
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        monkeypatch.setenv("UPSTAGE_ASSETS_BACKEND", "emulator")
        monkeypatch.setenv("UPSTAGE_API_KEY", "any")
        monkeypatch.setenv("UPSTAGE_API_BASE_URL", emulator.url)
        monkeypatch.setenv("UPSTAGE_CLIENT_READ_TIMEOUT_S", "2.5")
        monkeypatch.setenv("UPSTAGE_CLIENT_BACKOFF_BASE_S", "0.05")
        operator = Operator(data_root, tmp_path / "dagster_home", emulator, capsys)
        write_pdfs(data_root / "incoming", 6)
        code, outcome, err = operator.cli_json("ingest", str(data_root / "incoming"), "--wait", "--no-progress")
        assert outcome["done"] == 6, err
        timeouts = httpx.get(f"{emulator.url}/__emulator__/stats").json()["faults_injected"].get("timeout", 0)
    assert timeouts > 0, "the seed injects timeouts"
    code, status, _ = operator.cli_json("status")
    twice = status["possibly_billed_twice"]
    assert set(twice) == {"parse", "classification", "extraction"}, twice
    assert sum(twice.values()) == timeouts, (twice, timeouts)  # one page per document and product
    code, out, _ = operator.cli("status")
    assert f"possibly billed twice (an answer was lost and the request sent again): {timeouts} pages" in out

    instance = operator.instance()
    in_metadata = 0
    for run in outcome["runs"]:
        for entry in instance.all_logs(run["run_id"], of_type=DagsterEventType.ASSET_MATERIALIZATION):
            materialization = entry.dagster_event.event_specific_data.materialization
            if materialization.asset_key in (PARSED_LAYOUTS, KIE_FIELDS):
                in_metadata += materialization.metadata["possibly_billed_twice"].value
        assert instance.get_run_by_id(run["run_id"]).tags["upstage_assets/progress.possibly_billed_twice"]
    assert in_metadata == timeouts
