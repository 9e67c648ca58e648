"""AWS deployment helpers: one-shot account bootstrap and a Dagster Pipes client for AWS Batch."""
