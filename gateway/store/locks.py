"""File locks shared by the file store's processes: an exclusive flock, waited for or polled."""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator, Optional


@contextlib.contextmanager
def file_lock(path: Path, timeout: Optional[float] = None) -> Iterator[None]:
    """An exclusive flock on `path` across processes: waited for, or polled up to `timeout` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held by others only for one small write
        else:
            _poll_flock(fd, timeout)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _poll_flock(fd: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError("another worker holds the lock") from None
            time.sleep(0.02)
