"""A stage that fails after losing billed answers keeps their pages for the run that succeeds.

The client counts pages of answers it gave up on (a read timeout after the server computed and
billed them) as possibly billed twice, in the usage record the stage writes. A stage whose every
attempt loses its answer fails and writes no usage record; the retry runs in another process with
a fresh client, so without a record of the loss the second payment would show nowhere (the
reliability report's chaos run found this as a paid-twice document nobody explained).
"""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance, materialize

from upstage_assets.defs.pipeline.document_pipeline import build_document_pipeline
from upstage_assets.defs.pipeline.keys import PARSED_LAYOUTS, VALIDATED_DOCUMENTS
from upstage_assets.defs.resources import build_resources
from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.settings import Settings
from upstage_assets.storage.billing import PARSE, read_usage_totals
from upstage_assets.storage.layout import OutputLayout
from upstage_assets.storage.object_store import LocalObjectStore
from upstage_assets_tests.execution.documents import register_documents, write_invoices
from upstage_assets_tests.reliability.billing import billed_answers
from upstage_assets_tests.reliability.chaos import emulator_stats
from upstage_assets_tests.reliability.repaid import wait_for_answers_in_flight

KEY = "up_lost_answers_key_0123456789"


def _run_batch(instance, keys, base_url: str):
    settings = Settings.from_env(backend="emulator", upstage_base_url=base_url)
    return materialize([build_document_pipeline(settings)], instance=instance, resources=build_resources(settings),
                       raise_on_error=False, tags={"dagster/asset_partition_range_start": keys[0],
                                                   "dagster/asset_partition_range_end": keys[-1]})


@pytest.mark.slow
def test_answers_lost_by_a_failed_parse_count_as_possibly_billed_twice_when_a_later_run_stores_it(
        tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_invoices(data / "inbox", 2)
    instance = DagsterInstance.ephemeral()
    keys = register_documents(data / "inbox", data / "outputs", instance)
    for name, value in {"UPSTAGE_API_KEY": KEY, "UPSTAGE_ASSETS_OUTPUT": str(data / "outputs"),
                        "UPSTAGE_ASSETS_INBOX": str(data / "inbox"), "UPSTAGE_ASSETS_STATE_STORE": str(tmp_path / "s"),
                        "UPSTAGE_CLIENT_READ_TIMEOUT_S": "0.4", "UPSTAGE_CLIENT_MAX_ATTEMPTS": "2",
                        "UPSTAGE_CLIENT_BACKOFF_BASE_S": "0.01", "UPSTAGE_CLIENT_BREAKER_THRESHOLD": "1000"}.items():
        monkeypatch.setenv(name, value)

    # Run 1: every answer takes longer than the client waits; the emulator bills each one it computes.
    with run_emulator_in_thread(EmulatorSettings(api_key=KEY, latency_s=1.2)) as slow:
        _run_batch(instance, keys, slow.url)
        wait_for_answers_in_flight(lambda: emulator_stats(slow.url))  # the last ones are billed after the run
        billed_first = billed_answers(slow.url)
    assert not instance.get_materialized_partitions(PARSED_LAYOUTS), "every parse lost its answers"
    lost_pages = sum(groups.get("document-parse", 0) for groups in billed_first.values())
    # two attempts, then the run's API retry round's two, per one-page document: each billed, none kept
    assert lost_pages == 4 * len(keys), billed_first

    # Run 2: a fresh client (as a retry in another process has) against an API that answers in time.
    monkeypatch.setenv("UPSTAGE_CLIENT_READ_TIMEOUT_S", "60")
    with run_emulator_in_thread(EmulatorSettings(api_key=KEY)) as fast:
        second = _run_batch(instance, keys, fast.url)
        billed_second = billed_answers(fast.url)
    assert second.success
    assert instance.get_materialized_partitions(VALIDATED_DOCUMENTS) == set(keys)

    store, layout = LocalObjectStore(data / "outputs"), OutputLayout()
    for document_id in keys:
        record = json.loads(store.read_bytes(layout.usage_key(PARSE, document_id)))
        paid = billed_first[document_id]["document-parse"] + billed_second[document_id]["document-parse"]
        assert record["pages_billed"] == 1 and record["possibly_billed_twice"] == paid - 1 == 4, record
        assert not record.get("lost_since_stored"), "carried once, then settled"
    totals = read_usage_totals(store, layout)
    assert totals.possibly_billed_twice[PARSE] == lost_pages
    assert totals.pages_billed[PARSE] == len(keys)
