"""PostgreSQL restarted mid-backfill (issue 20): runs continue or are retried, the daemon recovers,
the limiter and budget state survive, and every document is done exactly once, paid once.

Real PostgreSQL (stopped with ``pg_ctl -m fast`` and started again), a real dagster-daemon and
run worker, the emulator on loopback. The only operator action allowed is the README's:
``upstage-assets retry-failed --wait`` for anything the runs left.
"""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance

from upstage_assets.cli import main as cli_main
from upstage_assets.defs.pipeline.keys import DOCUMENT_ASSET_KEYS, VALIDATED_DOCUMENTS
from upstage_assets.emulator.server import run_emulator_in_thread
from upstage_assets.emulator.settings import EmulatorSettings
from upstage_assets.upstage_api.shared_state import PostgresStateStore
from upstage_assets_tests.execution.documents import (
    materialization_counts,
    parquet_rows_by_document,
    register_documents,
    write_invoices,
)
from upstage_assets_tests.fixtures.postgres import restartable_postgres
from upstage_assets_tests.reliability.billing import billed_answers, paid_twice
from upstage_assets_tests.reliability.db_restart import postgres_home, restart_mid_backfill

KEY = "up_db_restart_key_0123456789ab"
PRICE = 0.01


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_postgres_restart_mid_backfill_loses_nothing_and_repeats_nothing(tmp_path, monkeypatch, capsys):
    documents = 16
    data, home = tmp_path / "data", tmp_path / "dagster_home"
    write_invoices(data / "inbox", documents)
    with restartable_postgres() as pg, run_emulator_in_thread(EmulatorSettings(api_key=KEY, latency_s=0.6)) as emu:
        dagster_url, state_url = postgres_home(home, pg)
        env = {"DAGSTER_HOME": str(home), "DAGSTER_POSTGRES_URL": dagster_url, "UPSTAGE_ASSETS_DATA": str(data),
               "UPSTAGE_ASSETS_INBOX": str(data / "inbox"), "UPSTAGE_ASSETS_OUTPUT": str(data / "outputs"),
               "UPSTAGE_ASSETS_BACKEND": "emulator", "UPSTAGE_API_BASE_URL": emu.url, "UPSTAGE_API_KEY": KEY,
               "UPSTAGE_ASSETS_STATE_STORE": state_url, "UPSTAGE_ASSETS_BUDGET_PER_DAY_USD": "100",
               "UPSTAGE_ASSETS_INBOX_SENSOR": "stopped", "DAGSTER_DISABLE_TELEMETRY": "1"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with DagsterInstance.from_config(str(home)) as instance:
            keys = register_documents(data / "inbox", data / "outputs", instance)
            outcome = restart_mid_backfill(instance, pg, home, env, keys, tmp_path / "daemon.log")
            assert outcome.restarts == 1 and 0 < outcome.validated_before_restart < documents
            assert outcome.daemon_heartbeat_after_restart, "the daemon recovered"
            if len(instance.get_materialized_partitions(VALIDATED_DOCUMENTS)) < documents:
                outcome.recovery_needed = True  # the README's recovery command
                assert cli_main(["retry-failed", "--wait", "--json", "--no-progress"]) == 0
                json.loads(capsys.readouterr().out)

            rows = parquet_rows_by_document(data / "outputs")
            assert sorted(rows) == sorted(keys) and set(rows.values()) == {1}, "none lost, none duplicated"
            for asset in DOCUMENT_ASSET_KEYS:
                counts = materialization_counts(instance, asset, keys)
                assert set(counts.values()) == {1}, (asset, counts, outcome)
            billed = billed_answers(emu.url)
            assert paid_twice(billed, keys) == [], billed

            # The budget's state lived through the restart: today's spend is what the emulator billed.
            store = PostgresStateStore(state_url)
            try:
                from upstage_assets.upstage_api.budget import utc_day

                spent = store.spend(f"default:day:{utc_day()}")
            finally:
                store.close()
            pages = sum(sum(groups.values()) for groups in billed.values())
            assert spent == pytest.approx(pages * PRICE), (spent, pages)
