"""Server-side state kept across requests, workers and restarts: saved accounts, proxy keys (hashed),
account runtime status, rate-limit counters and generated secrets.

Data lives in named sections, each one JSON object that is read whole and changed by a function
(`modify`), so a backend may re-run the change when another writer got there first. FileStore keeps
each section in a file under DATA_DIR; RedisStore (kimi/store_redis.py) is chosen by REDIS_URL.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TypeVar

T = TypeVar("T")

# Sections whose loss would lock an owner out (a rotated refresh token exists nowhere else):
# they reach the disk before a change returns. Runtime status and counters may lose the last write.
DURABLE_SECTIONS = {"accounts", "keys", "secrets"}
PRUNE_EVERY = 500  # remembered values written by one process between sweeps of the expired ones
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class Store:
    """What every backend offers; see FileStore for the semantics."""

    def read(self, section: str) -> dict[str, Any]:
        """A private copy of the section (empty when it was never written)."""
        raise NotImplementedError

    def modify(self, section: str, change: Callable[[dict[str, Any]], T]) -> T:
        """Apply `change` to the section atomically and return its result. `change` mutates the dict
        in place and must have no other side effects: a backend may call it again on a fresh copy."""
        raise NotImplementedError

    def hit(self, name: str, window: int) -> tuple[int, float]:
        """Count one event in the current fixed window: (count so far, seconds until the window ends)."""
        raise NotImplementedError

    def peek(self, name: str, window: int) -> tuple[int, float]:
        """The same as hit() without counting."""
        raise NotImplementedError

    def lock(self, name: str, timeout: float = 30) -> contextlib.AbstractContextManager:
        """A mutex shared by every worker using this store; TimeoutError when not won in time."""
        raise NotImplementedError

    def remember(self, name: str, value: str, ttl: int) -> None:
        """Keep a small value under `name` for `ttl` seconds (older values may be dropped sooner)."""
        raise NotImplementedError

    def recall(self, name: str) -> Optional[str]:
        """The value remembered under `name`, or None."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def ensure_secret(self, name: str, make: Callable[[], str]) -> tuple[str, bool]:
        """The secret called `name`, created by `make()` if no worker stored one yet; (value, created)."""
        candidate = make()

        def change(secrets: dict) -> tuple[str, bool]:
            if name in secrets:
                return secrets[name], False
            secrets[name] = candidate
            return candidate, True

        return self.modify("secrets", change)


def _window(window: int) -> tuple[int, float]:
    now = time.time()
    start = int(now // window * window)
    return start, start + window - now


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
        self._remembered = 0

    def read(self, section: str) -> dict[str, Any]:
        raw = self._read_bytes(section)
        return json.loads(raw) if raw else {}  # a fresh copy, quicker than deepcopy of the cached one

    def modify(self, section: str, change: Callable[[dict[str, Any]], T]) -> T:
        with self._local_lock("section:" + section), self._flock(self.dir / f".{section}.lock"):
            raw = self._read_bytes(section)
            data = json.loads(raw) if raw else {}
            result = change(data)
            encoded = json.dumps(data, separators=(",", ":")).encode()
            if encoded != (raw or b"{}"):
                self._write(section, encoded)
            return result

    def hit(self, name: str, window: int) -> tuple[int, float]:
        start, left = _window(window)

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
        start, left = _window(window)
        begun, seen, _ = self._load("counters").get(name) or (start, 0, window)
        return (seen if begun == start else 0), left

    def remember(self, name: str, value: str, ttl: int) -> None:
        # One small file per value: a request remembering its chat rewrites a few bytes, not a table.
        values = self.dir / "values"
        values.mkdir(exist_ok=True)
        self._replace(values / _value_file(name), json.dumps([value, time.time() + ttl]).encode(), durable=False)
        self._remembered += 1
        if self._remembered % PRUNE_EVERY == 0:
            self._prune_values()

    def recall(self, name: str) -> Optional[str]:
        try:
            value, expires = json.loads((self.dir / "values" / _value_file(name)).read_bytes())
        except (FileNotFoundError, ValueError):
            return None
        return value if expires > time.time() else None

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float = 30) -> Iterator[None]:
        locks = self.dir / "locks"
        locks.mkdir(exist_ok=True)
        with self._local_lock("lock:" + name):
            # Polled, not blocking: a blocking flock would stall every greenlet of a gevent worker.
            with self._flock(locks / (_SAFE_NAME.sub("_", name) + ".lock"), timeout=timeout):
                yield

    # Internals

    def _local_lock(self, name: str) -> threading.Lock:
        # gunicorn's gevent worker patches threading, so this lock makes greenlets wait their turn.
        with self._guard:
            return self._local_locks.setdefault(name, threading.Lock())

    @contextlib.contextmanager
    def _flock(self, path: Path, timeout: Optional[float] = None) -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if timeout is None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # held by others only for one small write
            else:
                _poll_flock(fd, timeout)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

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

    def _prune_values(self) -> None:
        now = time.time()
        for path in (self.dir / "values").glob("*.json"):
            try:
                if json.loads(path.read_bytes())[1] <= now:
                    path.unlink()
            except (FileNotFoundError, ValueError):
                continue


def _value_file(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32] + ".json"


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def open_store(data_dir: str, redis_url: str = "") -> Store:
    """The Redis store when a URL is given, else the file store under `data_dir`."""
    if redis_url:
        from kimi.store_redis import RedisStore  # the redis client is needed only by deployments using it
        return RedisStore(redis_url)
    return FileStore(data_dir)
