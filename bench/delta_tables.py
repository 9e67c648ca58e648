"""Write cost per document and read time for 10,000 rows: one Parquet file per document vs. Delta.

    python bench/delta_tables.py [--documents 10000] [--write-documents 400] [--quick]

Both layouts are measured side by side in the same run, on a local folder and on a moto S3
server over loopback HTTP:

- before: what the pipeline did until the Delta tables: each document's row serialized to its
  own Parquet file, written atomically, the other area's file deleted; readers listed the folder,
  read every file and kept the newest row per document (``latest_rows``).
- after: rows committed with ``DeltaTableWriter`` every 8 documents (the pipeline's default);
  readers read the table's current version (``read_tables``), before and after ``optimize``.

Writes to bench/results/delta_tables.md.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import RESULTS  # noqa: E402

from upstage_assets.operations.compaction import compact_tables  # noqa: E402
from upstage_assets.storage.layout import OutputLayout  # noqa: E402
from upstage_assets.storage.object_store import LocalObjectStore, ObjectStore, S3ObjectStore  # noqa: E402
from upstage_assets.storage.table_writer import DeltaTableWriter, TableRow  # noqa: E402
from upstage_assets.storage.tables import read_tables  # noqa: E402
from upstage_assets_tests.storage.rows import SCHEMA, row_table  # noqa: E402

LAYOUT = OutputLayout()
COMMIT_EVERY = 8


def rows(count: int, start: int = 0) -> list[TableRow]:
    when = datetime.now(UTC)
    return [TableRow(f"{i:016x}", SCHEMA.name, row_table(f"{i:016x}", f"{i}.25", when), False)
            for i in range(start, start + count)]


def write_old(store: ObjectStore, batch: list[TableRow]) -> None:
    for row in batch:
        buffer = io.BytesIO()
        pq.write_table(row.table, buffer)
        store.write_bytes(f"{LAYOUT.tables}/{SCHEMA.name}/{row.document_id}.parquet", buffer.getvalue())
        store.delete(f"{LAYOUT.quarantine}/{SCHEMA.name}/{row.document_id}.parquet")


def read_old(store: ObjectStore) -> pa.Table:
    """The old reader: every file of the folder, newest row per document."""
    tables = [pq.read_table(io.BytesIO(store.read_bytes(i.key))) for i in store.list(f"{LAYOUT.tables}/{SCHEMA.name}")
              if i.key.endswith(".parquet")]
    table = pa.concat_tables(tables, promote_options="permissive")
    order = table.sort_by([("document_id", "ascending"), ("processed_at", "descending")])
    ids = order.column("document_id").to_pylist()
    keep = [i for i in range(len(ids)) if i == 0 or ids[i] != ids[i - 1]]
    return order.take(pa.array(keep, pa.int64()))


def timed(action) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def measure(store_for, label: str, documents: int, write_documents: int) -> list[str]:  # type: ignore[no-untyped-def]
    sample = rows(write_documents)
    old_store, new_store = store_for("old"), store_for("new")
    old_write, _ = timed(lambda: write_old(old_store, sample))
    writer = DeltaTableWriter(new_store, LAYOUT)
    new_write, _ = timed(lambda: [writer.commit(sample[i:i + COMMIT_EVERY])
                                  for i in range(0, len(sample), COMMIT_EVERY)])
    lines = [f"| {label} | write, per document ({write_documents} documents) | "
             f"{old_write / write_documents * 1000:.1f} ms | {new_write / write_documents * 1000:.1f} ms "
             f"(a commit every {COMMIT_EVERY}) | {new_write / old_write:.2f} |"]
    # the read: 10,000 rows, written the old way (one file each) and as Delta (big commits + optimize)
    bulk_old, bulk_new = store_for("old-read"), store_for("new-read")
    everything = rows(documents)
    write_old(bulk_old, everything)
    bulk_writer = DeltaTableWriter(bulk_new, LAYOUT)
    for i in range(0, documents, 500):
        bulk_writer.commit(everything[i:i + 500])
    old_read, old_table = timed(lambda: read_old(bulk_old))
    new_read, new_table = timed(lambda: read_tables(bulk_new, LAYOUT)[SCHEMA.name])
    compact_tables(bulk_new, LAYOUT)
    optimized_read, optimized = timed(lambda: read_tables(bulk_new, LAYOUT)[SCHEMA.name])
    assert old_table.num_rows == new_table.num_rows == optimized.num_rows == documents  # type: ignore[attr-defined]
    lines += [f"| {label} | read {documents:,} rows | {old_read:.2f} s ({documents:,} files) | "
              f"{new_read:.2f} s ({documents // 500} commits) / {optimized_read:.2f} s (optimized) | "
              f"{new_read / old_read:.3f} / {optimized_read / old_read:.3f} |"]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--write-documents", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="1,000 rows, 80 writes")
    parser.add_argument("--no-s3", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.documents, args.write_documents = 1_000, 80
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    lines = ["| store | what | one Parquet file per document (before) | Delta (after) | after / before |",
             "| --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        lines += measure(lambda name: LocalObjectStore(Path(tmp) / name), "local folder", args.documents,
                         args.write_documents)
    if not args.no_s3:
        import os

        import boto3
        from moto.server import ThreadedMotoServer

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        try:
            lines += measure(lambda name: S3ObjectStore(f"s3://{bucket}/{name}", client), "moto S3 (loopback)",
                             args.documents, args.write_documents)
        finally:
            server.stop()
    report = "\n".join(["# Delta tables vs. one Parquet file per document", "",
                        "`python bench/delta_tables.py" + (" --quick" if args.quick else "") + "`, both layouts "
                        "measured in the same run on the same machine (2 shared cores).", "", *lines, ""])
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "delta_tables.md").write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
