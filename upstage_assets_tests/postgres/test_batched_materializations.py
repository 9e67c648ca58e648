"""Several documents' materializations of one asset in one event-log write on PostgreSQL
(``dagster_compat.log_materialization_batch``, what the step's thread uses for materializations that
are ready together): one INSERT for the batch instead of one per document, and every event stored
as Dagster's own ``log_event`` stores it (partition, data-version tag, the asset's latest record)."""

from __future__ import annotations

import uuid

import sqlalchemy as db
import yaml
from dagster import AssetKey, AssetMaterialization, DagsterInstance, asset, materialize

from upstage_assets.dagster_compat import DATA_VERSION_TAG, log_materialization_batch

KEY = AssetKey(["parsed_layouts"])


def _event_inserts(instance: DagsterInstance) -> list[str]:
    """Every INSERT into the event log's table made through the storage's engine, from now on."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001 (SQLAlchemy's signature)
        if statement.lstrip().upper().startswith("INSERT INTO EVENT_LOGS"):
            seen.append(statement)

    db.event.listen(instance.event_log_storage._engine, "before_cursor_execute", count)
    return seen


def test_a_batch_of_one_asset_is_one_insert_and_reads_back_like_single_writes(postgres_server, tmp_path):
    url = postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(
        {"storage": {"postgres": {"postgres_url": url}}, "telemetry": {"enabled": False}}))
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        inserts = _event_inserts(instance)
        counted: dict[str, int] = {}

        @asset
        def probe(context) -> None:
            before = len(inserts)
            log_materialization_batch(context, [
                AssetMaterialization(KEY, partition=p, tags={DATA_VERSION_TAG: f"v-{p}"}, metadata={"pages": i})
                for i, p in enumerate(["a", "b", "c", "d"])])
            counted["batch"] = len(inserts) - before
            latest = context.instance.get_latest_materialization_event(KEY)
            counted["latest after the batch: " + latest.asset_materialization.partition] = 1
            before = len(inserts)
            for p in ["e", "f"]:
                context.log_event(AssetMaterialization(KEY, partition=p))
            counted["single"] = len(inserts) - before

        result = materialize([probe], instance=instance)
        assert result.success
        assert counted == {"batch": 1, "latest after the batch: d": 1, "single": 2}
        records = instance.fetch_materializations(KEY, limit=10, ascending=True).records
        assert [r.partition_key for r in records] == ["a", "b", "c", "d", "e", "f"]
        assert [r.asset_materialization.tags[DATA_VERSION_TAG] for r in records[:4]] == ["v-a", "v-b", "v-c", "v-d"]
        assert records[3].asset_materialization.metadata["pages"].value == 3
        listed = [e.partition for e in result.asset_materializations_for_node("probe") if e.asset_key == KEY]
        assert listed == ["a", "b", "c", "d", "e", "f"], "the step's own list, as log_event keeps it"
        tagged = instance.get_event_tags_for_asset(KEY, filter_tags={DATA_VERSION_TAG: "v-c"})
        assert len(tagged) == 1, "the batch's tags are indexed like a single write's"
