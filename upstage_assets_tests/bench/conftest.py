from upstage_assets_tests.fixtures.postgres import postgres_server  # noqa: F401  (the session fixture)
