"""File locks shared by the file store's processes: an exclusive flock, polled without blocking."""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator, Optional

from gateway.store.cooperative import Pauses


@contextlib.contextmanager
def file_lock(path: Path, timeout: Optional[float] = None) -> Iterator[None]:
    """An exclusive flock on `path` across processes, waited for up to `timeout` seconds (None: as long
    as it takes). Polled, never a blocking flock: that would stall every greenlet of a gevent worker
    while another worker holds the lock (for a section's write, or an fsync to come back)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        pauses = Pauses(timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not pauses.wait():
                    raise TimeoutError("another worker holds the lock") from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
