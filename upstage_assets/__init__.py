"""upstage-assets: a Dagster code location that turns documents into validated Parquet tables."""

__version__ = "0.1.0"
