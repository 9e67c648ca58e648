"""A throwaway PostgreSQL on loopback for the multi-host store (the server refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_postgres() -> Iterator[str]:
    """Yield a ``postgresql://`` URL; the cluster and its files are gone afterwards."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
    bin_dir = binaries[-1]
    data = tempfile.mkdtemp(prefix="upstage_pg_")
    shutil.chown(data, "postgres", "postgres")
    os.chmod(data, 0o700)
    port = free_port()

    def as_postgres(command: str) -> None:
        subprocess.run(["su", "postgres", "-c", command], check=True, capture_output=True, timeout=60)

    as_postgres(f"{bin_dir}/initdb -D {data}/db -A trust -U dagster")
    as_postgres(f"{bin_dir}/pg_ctl -D {data}/db -o '-p {port} -k {data} -c listen_addresses=127.0.0.1' "
                f"-l {data}/log -w start")
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        yield f"postgresql://dagster@127.0.0.1:{port}/postgres"
    finally:
        as_postgres(f"{bin_dir}/pg_ctl -D {data}/db -m immediate stop")
        shutil.rmtree(data, ignore_errors=True)
