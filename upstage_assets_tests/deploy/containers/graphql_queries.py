"""The webserver GraphQL queries the stack test reads its evidence from (the UI's own API)."""

from __future__ import annotations

from typing import Any

from upstage_assets_tests.deploy.containers.stack import LOCATION, ComposeStack

WORKSPACE = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
DAEMONS = """{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"""
PARTITION_STATS = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { __typename
  ... on AssetNode { partitionStats { numMaterialized numPartitions numFailed numMaterializing } } } }"""
MATERIALIZATIONS = """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) { __typename
  ... on Asset { assetMaterializations(limit: 10000) { partition runId } } } }"""
RUNS = """{ runsOrError { __typename ... on Runs { results { runId status tags { key value } } } } }"""
BACKFILLS = """{ partitionBackfillsOrError { __typename ... on PartitionBackfills { results { id status } } } }"""
SENSOR_TICKS = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { status ticks(limit: 20) { timestamp status } } } } }"""

VALIDATED = ["validated_documents"]


def location_loaded(stack: ComposeStack) -> bool:
    entries = stack.graphql(WORKSPACE)["workspaceOrError"]["locationEntries"]
    entry = next((e for e in entries if e["name"] == LOCATION), None)
    if entry is None or entry["loadStatus"] != "LOADED":
        return False
    loaded = entry["locationOrLoadError"]
    assert loaded["__typename"] == "RepositoryLocation", loaded
    return True


def daemons_healthy(stack: ComposeStack, kinds: tuple[str, ...] = ("SENSOR", "BACKFILL", "QUEUED_RUN_COORDINATOR")
                    ) -> bool:
    statuses = stack.graphql(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    healthy = {s["daemonType"] for s in statuses if s["healthy"]}
    return set(kinds) <= healthy


def partition_stats(stack: ComposeStack) -> dict[str, int]:
    node = stack.graphql(PARTITION_STATS, {"path": VALIDATED})["assetNodeOrError"]
    return dict(node["partitionStats"])


def materializations_per_partition(stack: ComposeStack) -> dict[str, int]:
    events = stack.graphql(MATERIALIZATIONS, {"path": VALIDATED})["assetOrError"]["assetMaterializations"]
    counts: dict[str, int] = {}
    for event in events:
        counts[event["partition"]] = counts.get(event["partition"], 0) + 1
    return counts


def runs(stack: ComposeStack) -> list[dict[str, Any]]:
    results = stack.graphql(RUNS)["runsOrError"]["results"]
    return [{"id": r["runId"], "status": r["status"], "tags": {t["key"]: t["value"] for t in r["tags"]}}
            for r in results]


def backfills(stack: ComposeStack) -> list[dict[str, str]]:
    return list(stack.graphql(BACKFILLS)["partitionBackfillsOrError"]["results"])


def sensor_ticks(stack: ComposeStack, sensor: str) -> list[dict[str, Any]]:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "sensorName": sensor}
    found = stack.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]
    return list(found["sensorState"]["ticks"])
