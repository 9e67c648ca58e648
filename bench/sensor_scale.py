"""How the S3 inbox sensor scales: 10,000 new objects, then an idle tick.

Starts a moto S3 server in its own process (so its memory is not counted), uploads N small
distinct objects under ``inbox/``, then evaluates the real ``new_s3_documents`` sensor tick
by tick on a temporary Dagster instance (adding the partitions it asks for) until the whole
prefix is registered, then ticks once more with nothing new. Prints a Markdown table: per
tick wall time, objects listed/read/registered, tracemalloc peak and peak RSS (sampled every
20 ms during the tick).

    .venv/bin/python bench/sensor_scale.py --objects 10000
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil
from harness import free_port  # bench/ is on the path: run as a script, or imported by scale.py


@dataclass
class TickRow:
    phase: str
    seconds: float
    listed: int
    reads: int
    new: int
    runs: int
    traced_peak_mib: float
    rss_peak_mib: float
    note: str = ""


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto server did not start")


class RssSampler:
    """Peak resident memory of this process while a block runs."""

    def __init__(self, interval: float = 0.02):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._process = psutil.Process()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def upload(client, bucket: str, count: int) -> float:
    started = time.perf_counter()

    def put(n: int) -> None:
        client.put_object(Bucket=bucket, Key=f"inbox/batch/{n % 97:02d}/doc-{n:06d}.pdf",
                          Body=b"%PDF-1.4 benchmark object " + str(n).encode() * 8 + b"\n%%EOF\n")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--max-documents", type=int, default=1000, help="reads per tick (S3ScanLimits)")
    parser.add_argument("--no-tracemalloc", action="store_true", help="time without tracemalloc's overhead")
    args = parser.parse_args()

    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                        "DAGSTER_DISABLE_TELEMETRY": "1"}.items():
        os.environ[name] = value
    logging.getLogger("botocore").setLevel(logging.ERROR)

    import boto3
    from dagster import DagsterInstance
    from dagster_aws.s3 import S3Resource

    from upstage_assets.ingest.s3_scan import S3ScanLimits
    from upstage_assets.resources.storage import StorageResource

    moto, endpoint = start_moto()
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="bench")
        upload_s = upload(client, "bench", args.objects)
        storage = StorageResource(output_root="s3://bench/outputs", inbox="s3://bench/inbox",
                                  s3=S3Resource(endpoint_url=endpoint, region_name="us-east-1"))
        limits = S3ScanLimits(max_documents=args.max_documents)
        rows: list[TickRow] = []
        with tempfile.TemporaryDirectory() as home:
            with open(os.path.join(home, "dagster.yaml"), "w") as fh:
                fh.write("telemetry:\n  enabled: false\n")
            with DagsterInstance.local_temp(tempdir=home) as instance:
                cursor = None
                registered = 0
                for tick in range(1, 200):
                    row, cursor = run_tick(instance, storage, limits, cursor, f"registration tick {tick}",
                                           not args.no_tracemalloc)
                    rows.append(row)
                    registered += row.new
                    if registered >= args.objects and row.note == "pass complete":
                        break
                for _ in range(2):
                    row, cursor = run_tick(instance, storage, limits, cursor, "idle tick", not args.no_tracemalloc)
                    rows.append(row)
                partitions = len(instance.get_dynamic_partitions("documents"))
        started = time.perf_counter()
        listed = sum(len(page.get("Contents", [])) for page in
                     client.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix="inbox/"))
        rows.append(TickRow("baseline: boto3 paginator LIST of the prefix, no sensor",
                            time.perf_counter() - started, listed, 0, 0, 0, 0.0, 0.0))
        checkpoint_bytes = sum(o["Size"] for o in client.list_objects_v2(
            Bucket="bench", Prefix="outputs/state/").get("Contents", []))
    finally:
        moto.terminate()
        moto.wait(10)
    print_table(rows, args, upload_s, partitions, checkpoint_bytes)


def run_tick(instance, storage, limits, cursor, phase: str, trace: bool) -> tuple[TickRow, str | None]:
    """One evaluation of the sensor's body on a real sensor context, measured."""
    from dagster import build_sensor_context

    from upstage_assets.defs.sensors.s3 import s3_inbox_tick
    from upstage_assets.settings import Settings

    if trace:
        tracemalloc.start()
    with RssSampler() as rss, build_sensor_context(instance=instance, resources={"storage": storage},
                                                   cursor=cursor) as context:
        started = time.perf_counter()
        data, scan = s3_inbox_tick(context, storage, limits, Settings.from_env())
        seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    assert scan is not None
    for request in data.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions("documents", list(request.partition_keys))
    note = "pass complete" if scan.pass_completed else ("budget reached" if scan.budget_exhausted else "")
    return TickRow(phase, seconds, scan.listed, scan.reads, len(scan.new_records), len(data.run_requests or []),
                   traced / 2**20, rss.peak / 2**20, note), data.cursor


def print_table(rows: list[TickRow], args, upload_s: float, partitions: int, checkpoint_bytes: int) -> None:
    registration = [r for r in rows if r.phase.startswith("registration")]
    print(f"\n{args.objects} objects uploaded in {upload_s:.1f}s; {partitions} partitions registered; "
          f"checkpoint {checkpoint_bytes / 1024:.0f} KiB; max {args.max_documents} reads per tick; "
          f"tracemalloc {'off' if args.no_tracemalloc else 'on'}\n")
    print("| tick | wall s | listed | read | new partitions | runs | tracemalloc peak MiB | RSS peak MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row.phase}{' (' + row.note + ')' if row.note else ''} | {row.seconds:.2f} | {row.listed} | "
              f"{row.reads} | {row.new} | {row.runs} | {row.traced_peak_mib:.1f} | {row.rss_peak_mib:.0f} |")
    total = sum(r.seconds for r in registration)
    print(f"| **first registration, {len(registration)} ticks** | {total:.1f} (max {max(r.seconds for r in registration):.1f}) | "
          f"{sum(r.listed for r in registration)} | {sum(r.reads for r in registration)} | "
          f"{sum(r.new for r in registration)} | {sum(r.runs for r in registration)} | "
          f"{max(r.traced_peak_mib for r in registration):.1f} | {max(r.rss_peak_mib for r in registration):.0f} |")


if __name__ == "__main__":
    main()
