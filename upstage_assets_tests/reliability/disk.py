"""A disk that fills up, for one folder: ``os.write`` to a file under it stops at a byte quota.

The kernel's own behaviour is copied: a write that does not fit writes what does, and the next
one fails with ``ENOSPC``. Only file descriptors whose path lies under the watched folder are
affected, so Dagster's SQLite files and logs elsewhere keep working. This is an injected fault
(a size-limited filesystem needs a root-only mount, which CI machines cannot do); it runs the
real write path: temp file, partial write, ENOSPC, cleanup.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path


class FillingDisk:
    def __init__(self, root: Path, free_bytes: int):
        self.root = str(root.resolve())
        self.free_bytes = free_bytes
        self.refused = 0  # writes that hit ENOSPC
        self._write: Callable[[int, bytes], int] = os.write

    def _under_root(self, fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}").startswith(self.root + os.sep)
        except OSError:
            return False

    def write(self, fd: int, data: bytes) -> int:
        if not self._under_root(fd):
            return self._write(fd, data)
        if self.free_bytes <= 0:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = self._write(fd, bytes(memoryview(data)[: self.free_bytes]))
        self.free_bytes -= written
        return written
