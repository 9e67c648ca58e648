"""The GraphQL the Dagster UI sends for the pages ``bench/scale.py`` times (trimmed to what each page
needs to render; the UI's own queries ask for these fields and more of the same cost)."""

ASSET_GRAPH = """
query AssetGraph {
  assetNodes {
    id assetKey { path } groupName isPartitioned
    dependencyKeys { path }
    partitionStats { numMaterialized numMaterializing numFailed numPartitions }
  }
}"""

PARTITIONS_PAGE = """
query PartitionsPage($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      partitionKeysByDimension { name partitionKeys }
      assetPartitionStatuses {
        ... on DefaultPartitionStatuses {
          materializedPartitions failedPartitions unmaterializedPartitions materializingPartitions
        }
      }
    }
  }
}"""

RUNS_PAGE = """
query RunsPage {
  runsOrError(limit: 25) {
    ... on Runs { results { id runId status startTime endTime tags { key value } assetSelection { path } } }
  }
}"""

BACKFILL = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
