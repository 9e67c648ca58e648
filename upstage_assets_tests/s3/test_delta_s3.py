"""The Delta tables on S3 (moto server over real HTTP): commits by conditional PUT, no lock table."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from upstage_assets.operations.compaction import compact_tables
from upstage_assets.operations.migrate_tables import migrate_tables
from upstage_assets.storage.delta import table_location
from upstage_assets.storage.s3_dataset import read_output_tables_from_s3, s3_dataset
from upstage_assets.storage.table_writer import DeltaTableWriter
from upstage_assets.storage.tables import open_delta, read_tables
from upstage_assets_tests.storage.concurrent_writers import write_at_once
from upstage_assets_tests.storage.rows import LAYOUT, SCHEMA, row_bytes, table_row

NOW = datetime.now(UTC)


def test_the_s3_server_refuses_a_second_create_of_one_key(bucket):
    """What the lock-free commit relies on: PUT with If-None-Match: * fails when the key exists."""
    bucket.client.put_object(Bucket=bucket.name, Key="t/_delta_log/00000000000000000001.json", Body=b"a",
                             IfNoneMatch="*")
    with pytest.raises(ClientError) as caught:
        bucket.client.put_object(Bucket=bucket.name, Key="t/_delta_log/00000000000000000001.json", Body=b"b",
                                 IfNoneMatch="*")
    assert caught.value.response["Error"]["Code"] in ("PreconditionFailed", "412")


def test_commits_reads_and_the_quarantine_move_on_s3(bucket):
    store = bucket.storage().output_store()
    options = table_location(store, LAYOUT.tables, SCHEMA.name).storage_options
    assert options["conditional_put"] == "etag" and "AWS_S3_ALLOW_UNSAFE_RENAME" not in options
    assert not any(k.startswith("AWS_SECRET") for k in options), "credentials come from the environment chain"
    writer = DeltaTableWriter(store, LAYOUT)
    ids = [f"{i:016x}" for i in range(5)]
    writer.commit([table_row(d, "3.5", NOW - timedelta(minutes=1)) for d in ids])
    writer.commit([table_row(ids[0], 0, NOW, quarantine=True)])
    root = f"s3://{bucket.name}/outputs"
    tables = read_output_tables_from_s3(root, endpoint_url=bucket.endpoint)
    assert sorted(tables[SCHEMA.name].column("document_id").to_pylist()) == ids[1:]
    quarantine = read_output_tables_from_s3(root, area="quarantine", endpoint_url=bucket.endpoint)
    assert quarantine[SCHEMA.name].column("document_id").to_pylist() == [ids[0]]
    frame = s3_dataset(f"{root}/tables/{SCHEMA.name}", endpoint_url=bucket.endpoint).to_table().to_pandas()
    assert sorted(frame["document_id"]) == ids[1:], "a plain dataset of the prefix is the current version"


@pytest.mark.slow
@pytest.mark.parametrize("compact_at", [None, 3], ids=["default", "asked-to-compact"])
def test_two_processes_commit_to_one_s3_table_at_once(bucket, compact_at):
    """Both runs compact at commit time too. Before the compaction lease, two compactions of the same
    files both committed here and left documents twice in a table (one trial of eight, 14 rows)."""
    ids = [f"{i:016x}" for i in range(32)]
    root = f"s3://{bucket.name}/outputs"
    write_at_once(root, [ids[:20], list(reversed(ids[8:]))], endpoint=bucket.endpoint, quarantine_every=5,
                  compact_at_small_files=compact_at)
    store = bucket.storage().output_store()
    validated = read_tables(store, LAYOUT)[SCHEMA.name].column("document_id").to_pylist()
    quarantined = read_tables(store, LAYOUT, area=LAYOUT.quarantine)[SCHEMA.name].column("document_id").to_pylist()
    counts = Counter(validated + quarantined)
    assert sorted(counts) == ids, "no lost row"
    assert max(counts.values()) == 1, "no duplicate, and no document in both tables"
    if compact_at:
        files = len(open_delta(table_location(store, LAYOUT.tables, SCHEMA.name)).file_uris())
        assert files < compact_at + 2, f"compacted as it went ({files} files)"


def test_compaction_and_migration_on_s3(bucket):
    store = bucket.storage().output_store()
    for i in range(3):
        store.write_bytes(*row_bytes(f"{i:016x}", float(i), NOW))
    (report,) = migrate_tables(store, LAYOUT)
    assert report.documents == 3
    writer = DeltaTableWriter(store, LAYOUT)
    for i in range(3, 6):
        writer.commit([table_row(f"{i:016x}", str(i), NOW)])
    (compacted,) = compact_tables(store, LAYOUT)
    assert compacted.files_after == 1 and compacted.rows == 6
    assert read_tables(store, LAYOUT)[SCHEMA.name].num_rows == 6
