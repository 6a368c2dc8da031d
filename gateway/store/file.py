"""The file store: each section a JSON file under DATA_DIR, but the accounts a row each, remembered
values, usage counts and the request log in SQLite databases there (gateway/store/sqlite.py); gateway/store/base.py says what a store offers,
RedisStore is chosen by REDIS_URL.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, TypeVar

from gateway.store.base import Store, window_bounds
from gateway.store.cooperative import off_the_loop
from gateway.store.locks import file_lock
from gateway.store.sqlite import PRUNE_EVERY, RecordTable, UsageTables, ValueTable

__all__ = ["FileStore", "PRUNE_EVERY", "RECORDS_DATABASE", "RUNTIME_DATABASE", "USAGE_DATABASE", "VALUES_DATABASE"]

T = TypeVar("T")

# Sections whose loss would lock an owner out (a rotated refresh token exists nowhere else):
# they reach the disk before a change returns. Runtime status and counters may lose the last write.
DURABLE_SECTIONS = {"keys", "secrets"}
# Sections of many records changed one at a time: a save writes one row, not thousands (11k accounts
# rewritten and fsynced as one file took 300 ms per save). Accounts are durable (RecordTable); the runtime
# status (leases, cooldowns, the policies' counts), changed twice per lent request, is a hint like the
# remembered values: a row per account, written without fsync, instead of a whole file made and renamed.
RECORD_SECTIONS = ("accounts", "runtime")
VALUES_DATABASE = "values.sqlite3"
RECORDS_DATABASE = "records.sqlite3"
RUNTIME_DATABASE = "runtime.sqlite3"
USAGE_DATABASE = "usage.sqlite3"  # apart from the values: the flushers' batches never queue behind an answer's write
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class FileStore(Store):
    """One JSON file per section under `directory` (mode 0600), replaced atomically; the record sections
    in a SQLite table, a row per record.

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
        self._values = ValueTable(self.dir / VALUES_DATABASE)
        self._records = {"accounts": RecordTable(self.dir / RECORDS_DATABASE),
                         "runtime": RecordTable(self.dir / RUNTIME_DATABASE, synchronous="OFF")}
        self._usage = UsageTables(self.dir / USAGE_DATABASE)
        self.sweep_temporary()
        for section in RECORD_SECTIONS:
            self._adopt(section)

    def read(self, section: str) -> dict[str, Any]:
        if section in RECORD_SECTIONS:
            return self._records[section].read(section)
        raw = self._read_bytes(section)
        return json.loads(raw) if raw else {}  # a fresh copy, quicker than deepcopy of the cached one

    def modify(self, section: str, change: Callable[[dict[str, Any]], T]) -> T:
        with self._section_lock(section):
            if section in RECORD_SECTIONS:
                return self._records[section].modify(section, change)
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

    def remember_many(self, items: Iterable[tuple[str, str, int]]) -> None:
        now = time.time()
        self._values.put_many([(name, value, now + ttl) for name, value, ttl in items])

    def recall(self, name: str) -> Optional[str]:
        return self._values.get(name, time.time())

    def add_counts(self, counts: Mapping[str, Mapping[str, float]], ttl: int) -> None:
        self._usage.add_counts(counts, time.time() + ttl)

    def read_counts(self, names: Iterable[str]) -> list[dict[str, float]]:
        return self._usage.read_counts(list(names), time.time())

    def append_rows(self, name: str, rows: list[tuple[float, str]], keep_seconds: float, keep_rows: int = 0) -> None:
        self._usage.append_rows(name, rows, keep_seconds, keep_rows)

    def read_rows(self, name: str, since: float, limit: int) -> list[tuple[float, str]]:
        return self._usage.read_rows(name, since, limit)

    def close(self) -> None:
        self._values.close()
        for table in self._records.values():
            table.close()
        self._usage.close()

    def sweep_temporary(self) -> int:
        """Delete the temporary files of writes a crash cut short (they may hold tokens); how many.
        Each section's are deleted under its lock, which every writer holds while its file exists."""
        swept = 0
        for path in self.dir.glob(".*.tmp"):
            section = path.name[1:-len(".tmp")].rsplit(".", 1)[0]
            with self._section_lock(section), contextlib.suppress(FileNotFoundError):
                path.unlink()
                swept += 1
        return swept

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 30, expires: float = 60) -> Iterator[None]:
        # `expires` is not needed here: the kernel drops a flock when its process dies.
        locks = self.dir / "locks"
        locks.mkdir(exist_ok=True)
        with self._local_lock("lock:" + name):
            # Polled, not blocking: a blocking flock would stall every greenlet of a gevent worker.
            with file_lock(locks / (_SAFE_NAME.sub("_", name) + ".lock"), timeout=timeout):
                yield

    # Internals

    @contextlib.contextmanager
    def _section_lock(self, section: str) -> Iterator[None]:
        with self._local_lock("section:" + section), file_lock(self.dir / f".{section}.lock"):
            yield

    def _adopt(self, section: str) -> None:
        """Move a record section an older version kept in `<section>.json` into the records table."""
        legacy = self.dir / f"{section}.json"
        if legacy.exists():
            with self._section_lock(section):
                if legacy.exists():
                    self._records[section].adopt(section, legacy)

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
                if durable:  # off the event loop: the disk may take milliseconds or more
                    off_the_loop(os.fsync, handle.fileno())
            os.replace(tmp, path)
            if durable:
                off_the_loop(_fsync_directory, path.parent)  # the rename itself must survive a crash too
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
