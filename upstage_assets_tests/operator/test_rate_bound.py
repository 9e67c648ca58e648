"""The run says what the account's request limits allow, and warns when classification alone holds it back.

Unit checks on the real client resource's limits, then one ingest through the CLI against the emulator on
loopback, its warning read from the run's event log.
"""

from __future__ import annotations

import pytest
from dagster import DagsterEventType

from upstage_assets.defs.pipeline.rate_bound import (
    CLASSIFICATION,
    EXTRACTION,
    PARSE,
    rate_bound,
    say_rate_bound,
)
from upstage_assets.defs.pipeline.routing import CHECK, OFF, DocumentTypePolicy
from upstage_assets.resources.local_engine import LocalEngineResource
from upstage_assets.resources.upstage_client import UpstageClient

from .conftest import Operator, write_pdfs


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.lines.append(("info", message))

    def warning(self, message: str) -> None:
        self.lines.append(("warning", message))


def scale_tier_client(**limits: float) -> UpstageClient:
    return UpstageClient(api_key="any", parse_requests_per_second=3.0, extract_requests_per_second=40.0, **limits)


def test_the_slowest_endpoint_every_document_calls_sets_the_bound():
    limits = scale_tier_client().endpoint_limits()
    bound = rate_bound(limits, classifies_every_document=True)
    assert (bound.endpoint, bound.docs_per_s) == (CLASSIFICATION, 1.0)  # the client default, 1 req/s
    assert bound.others == {PARSE: 3.0, EXTRACTION: 40.0}
    assert rate_bound(limits, classifies_every_document=False).endpoint == PARSE
    assert rate_bound(limits, classifies_every_document=True, extracts=False).others == {}  # parsing only


def test_classification_holding_the_run_back_is_a_warning_that_says_what_to_do():
    log = Log()
    say_rate_bound(log, scale_tier_client(), DocumentTypePolicy(CHECK))
    ((level, message),) = log.lines
    assert level == "warning"
    assert message.startswith("the account's request limits allow at most 1 documents/s: Document Classification "
                              "at 1 req/s, Document Parse 3, Information Extraction 40")
    assert "document_types: off" in message and "UPSTAGE_CLIENT_CLASSIFY_REQUESTS_PER_SECOND" in message


@pytest.mark.parametrize(("policy", "classify"), [(OFF, 1.0), (CHECK, 3.0)])
def test_otherwise_the_bound_is_information(policy, classify):
    log = Log()
    bound = say_rate_bound(log, scale_tier_client(classify_requests_per_second=classify), DocumentTypePolicy(policy))
    assert [level for level, _ in log.lines] == ["info"]
    assert bound.docs_per_s == 3.0


def test_the_local_engine_has_no_account_limits():
    log = Log()
    assert say_rate_bound(log, LocalEngineResource(), DocumentTypePolicy(CHECK)) is None and log.lines == []


@pytest.mark.slow
def test_an_ingest_warns_when_classification_holds_it_back(operator: Operator, monkeypatch):
    monkeypatch.setenv("UPSTAGE_CLIENT_CLASSIFY_REQUESTS_PER_SECOND", "2")  # the emulator preset gives 20 elsewhere
    write_pdfs(operator.data_root / "incoming", 2)
    code, outcome, err = operator.cli_json("ingest", str(operator.data_root / "incoming"), "--wait", "--no-progress")
    assert outcome["done"] == 2, err
    (run_id,) = [r["run_id"] for r in outcome["runs"]]
    messages = [entry.user_message for entry in operator.instance().all_logs(run_id)
                if entry.dagster_event is None or entry.dagster_event.event_type != DagsterEventType.ASSET_MATERIALIZATION]
    (said,) = [m for m in messages if "request limits allow" in m]
    assert "at most 2 documents/s: Document Classification at 2 req/s" in said
    assert "document_types: off" in said
