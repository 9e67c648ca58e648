"""The chaos run's paid-twice explanation (``repaid.py``): what counts as in flight at the kill."""

from __future__ import annotations

import json

from dagster import AssetMaterialization, DagsterInstance

from upstage_assets.errors import SourceUnavailable
from upstage_assets.storage.failures import record_failure
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets_tests.reliability.repaid import in_flight_at_kill, recorded_billed_twice, unexplained


def test_in_flight_means_billed_for_a_stage_not_finished_and_not_failed_by_the_killed_run(tmp_path):
    instance = DagsterInstance.ephemeral()
    instance.report_runless_asset_event(AssetMaterialization("parsed_layouts", partition="a"))
    record_failure(LocalObjectStore(tmp_path), OutputLayout(), document_id="c", source_uri=None,
                   stage="parsed_layouts", error=SourceUnavailable("gone"), run_id="killed")
    billed = {"a": {"document-parse": 1, "information-extraction": 1}, "b": {"document-parse": 1},
              "c": {"document-parse": 1}}
    assert in_flight_at_kill(instance, billed, tmp_path, "killed") == {("a", "information-extraction"),
                                                                       ("b", "document-parse")}


def test_a_repaid_endpoint_is_explained_by_the_kill_or_by_the_clients_record(tmp_path):
    usage = tmp_path / "usage" / "parse"
    usage.mkdir(parents=True)
    (usage / "r.json").write_text(json.dumps({"possibly_billed_twice": 1}))
    (usage / "s.json").write_text(json.dumps({"possibly_billed_twice": 0}))
    recorded = recorded_billed_twice(tmp_path, ["r", "s"])
    assert recorded == {("r", "parse")}
    billed = {"k": {"document-parse": 2}, "r": {"document-parse": 2}, "s": {"document-parse": 2},
              "t": {"document-parse": 1, "information-extraction": 2}}
    assert unexplained(billed, ["k", "r", "s", "t"], {("k", "document-parse"), ("t", "document-parse")},
                       recorded) == ["s", "t"]
