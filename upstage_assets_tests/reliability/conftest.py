"""The moto S3 server and bucket fixtures of the S3 tests, reused here."""

from upstage_assets_tests.s3.conftest import aws_env, bucket, moto_endpoint  # noqa: F401
