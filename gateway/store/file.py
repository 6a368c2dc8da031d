"""The file store: each section a JSON file under DATA_DIR, remembered values in one SQLite
database there (gateway/store/base.py says what a store offers; RedisStore is chosen by REDIS_URL).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TypeVar

from gateway.store.base import Store, window_bounds

T = TypeVar("T")

# Sections whose loss would lock an owner out (a rotated refresh token exists nowhere else):
# they reach the disk before a change returns. Runtime status and counters may lose the last write.
DURABLE_SECTIONS = {"accounts", "keys", "secrets"}
PRUNE_EVERY = 500  # remembered values written by one process between sweeps of the expired ones
VALUES_DATABASE = "values.sqlite3"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class FileStore(Store):
    """One JSON file per section under `directory` (mode 0600), replaced atomically.

    Writers of a section take an exclusive flock on its lock file, so several gunicorn workers (and
    greenlets, which also pass an in-process lock first) change it one at a time. Readers read the
    file on every call (os.replace makes each read see one whole version), so a change made by one
    worker is seen by the next read in any other; parsing is skipped while the bytes are unchanged.
    """

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self._cache: dict[str, tuple[bytes, dict]] = {}
        self._local_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._values = _ValueTable(self.dir / VALUES_DATABASE)

    def read(self, section: str) -> dict[str, Any]:
        raw = self._read_bytes(section)
        return json.loads(raw) if raw else {}  # a fresh copy, quicker than deepcopy of the cached one

    def modify(self, section: str, change: Callable[[dict[str, Any]], T]) -> T:
        with self._local_lock("section:" + section), _file_lock(self.dir / f".{section}.lock"):
            raw = self._read_bytes(section)
            data = json.loads(raw) if raw else {}
            result = change(data)
            encoded = json.dumps(data, separators=(",", ":")).encode()
            if encoded != (raw or b"{}"):
                self._write(section, encoded)
            return result

    def hit(self, name: str, window: int) -> tuple[int, float]:
        start, left = window_bounds(window)

        def count(counters: dict) -> int:
            now = time.time()
            for key in [k for k, (begun, _, span) in counters.items() if begun + span <= now]:
                del counters[key]
            begun, seen, _ = counters.get(name) or (start, 0, window)
            seen = seen + 1 if begun == start else 1
            counters[name] = [start, seen, window]
            return seen

        return self.modify("counters", count), left

    def peek(self, name: str, window: int) -> tuple[int, float]:
        start, left = window_bounds(window)
        begun, seen, _ = self._load("counters").get(name) or (start, 0, window)
        return (seen if begun == start else 0), left

    def remember(self, name: str, value: str, ttl: int) -> None:
        self._values.put(name, value, time.time() + ttl)

    def recall(self, name: str) -> Optional[str]:
        return self._values.get(name, time.time())

    def close(self) -> None:
        self._values.close()

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 30, expires: float = 60) -> Iterator[None]:
        # `expires` is not needed here: the kernel drops a flock when its process dies.
        locks = self.dir / "locks"
        locks.mkdir(exist_ok=True)
        with self._local_lock("lock:" + name):
            # Polled, not blocking: a blocking flock would stall every greenlet of a gevent worker.
            with _file_lock(locks / (_SAFE_NAME.sub("_", name) + ".lock"), timeout=timeout):
                yield

    # Internals

    def _local_lock(self, name: str) -> threading.Lock:
        # gunicorn's gevent worker patches threading, so this lock makes greenlets wait their turn.
        with self._guard:
            return self._local_locks.setdefault(name, threading.Lock())

    def _read_bytes(self, section: str) -> bytes:
        try:
            with open(self.dir / f"{section}.json", "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return b""

    def _load(self, section: str) -> dict[str, Any]:
        """The section for reading only: shared and cached, re-parsed when its bytes changed."""
        raw = self._read_bytes(section)
        cached = self._cache.get(section)
        if cached is None or cached[0] != raw:
            cached = self._cache[section] = (raw, json.loads(raw) if raw else {})
        return cached[1]

    def _write(self, section: str, encoded: bytes) -> None:
        self._replace(self.dir / f"{section}.json", encoded, durable=section in DURABLE_SECTIONS)

    def _replace(self, path: Path, encoded: bytes, durable: bool) -> None:
        """Write a whole new file beside `path`, then rename it over: readers see one version or the other."""
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(encoded)
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            os.replace(tmp, path)
            if durable:
                _fsync_directory(path.parent)  # the rename itself must survive a crash too
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

class _ValueTable:
    """FileStore's remembered values: one SQLite table shared by every worker of the machine.

    A value is written on nearly every answer, so it must cost microseconds: a file per value cost a
    create and a rename each (hundreds of microseconds on ext4, during which the gevent worker stands
    still). SQLite in WAL mode takes one write at a time from several processes and never makes a
    reader wait. `synchronous=OFF`: these are hints (losing the newest ones to a power cut costs a
    continued chat its parent id, nothing more), so no write waits for the disk.
    """

    def __init__(self, path: Path):
        self.path = path
        self._connection: Optional[sqlite3.Connection] = None
        self._pid = 0
        self._lock = threading.Lock()
        self._written = 0

    def put(self, name: str, value: str, expires: float) -> None:
        with self._lock:
            db = self._open()
            db.execute("INSERT OR REPLACE INTO value (name, value, expires) VALUES (?, ?, ?)",
                       (name, value, expires))
            self._written += 1
            if self._written % PRUNE_EVERY == 0:
                db.execute("DELETE FROM value WHERE expires <= ?", (time.time(),))

    def get(self, name: str, now: float) -> Optional[str]:
        with self._lock:
            row = self._open().execute("SELECT value FROM value WHERE name = ? AND expires > ?",
                                       (name, now)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def _open(self) -> sqlite3.Connection:
        # Opened on first use and again in a forked child: a connection must not cross a fork.
        if self._connection is None or self._pid != os.getpid():
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite's -wal/-shm copy this mode
            # isolation_level=None: each statement commits at once, no transaction is left open.
            # check_same_thread=False: gevent greenlets and test threads share it, one at a time (the lock).
            db = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous=OFF")
            # Workers opening a new database at the same moment each try to switch it to WAL, and SQLite
            # refuses all but one with "database is locked" at once, without waiting out `timeout`. So
            # the set-up takes turns under a file lock, held for milliseconds once per process.
            with _file_lock(self.path.with_name(self.path.name + ".lock")):
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS value "
                           "(name TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL)")
                db.execute("CREATE INDEX IF NOT EXISTS value_expires ON value (expires)")
            self._connection, self._pid = db, os.getpid()
        return self._connection


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _file_lock(path: Path, timeout: Optional[float] = None) -> Iterator[None]:
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
