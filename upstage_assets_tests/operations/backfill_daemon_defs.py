"""A code location for the daemon tests: one partitioned asset whose backfill the daemon turns into runs."""

from dagster import AssetExecutionContext, Definitions, StaticPartitionsDefinition, asset

PARTITIONS = StaticPartitionsDefinition(["a", "b"])


@asset(partitions_def=PARTITIONS)
def letters(context: AssetExecutionContext) -> None:
    context.log.info(f"partition {context.partition_key}")


defs = Definitions(assets=[letters])
