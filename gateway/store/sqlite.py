"""The file store's SQLite tables: remembered values (many, small, hints), record sections (the
accounts, one row per account, so saving one account writes that account alone), and usage counts and
the request log (written in batches by each worker's usage flusher)."""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, TypeVar

from gateway.store.cooperative import Pauses, off_the_loop
from gateway.store.locks import file_lock

T = TypeVar("T")

PRUNE_EVERY = 500  # remembered values written by one process between sweeps of the expired ones
BUSY_WAIT_SECONDS = 5  # how long a statement waits for another process's write lock before it fails
_PUT_VALUE = "INSERT OR REPLACE INTO value (name, value, expires) VALUES (?, ?, ?)"


class Database:
    """One SQLite database in WAL mode, a connection per process, used by one greenlet at a time."""

    def __init__(self, path: Path, synchronous: str, schema: tuple[str, ...]):
        self.path = path
        self._synchronous = synchronous
        self._schema = schema
        self._connection: Optional[sqlite3.Connection] = None
        self._pid = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._open()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an error). Where the commit waits
        for the disk (synchronous other than OFF) it runs off the event loop."""
        with self.connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            if self._synchronous == "OFF":
                db.execute("COMMIT")
            else:  # the write lock is held since BEGIN IMMEDIATE: in WAL mode COMMIT waits for nobody
                off_the_loop(sqlite3.Connection.execute, db, "COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def _open(self) -> sqlite3.Connection:
        # Opened on first use and again in a forked child: a connection must not cross a fork.
        if self._connection is None or self._pid != os.getpid():
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # SQLite's -wal/-shm copy this mode
            # isolation_level=None: each statement commits at once unless a transaction is begun.
            # check_same_thread=False: gevent greenlets and test threads share it, one at a time (the lock).
            # timeout=0: a statement that finds the database locked fails at once, and _TakingTurns waits.
            db = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False,
                                 factory=_TakingTurns)
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            # Workers opening a new database at the same moment each try to switch it to WAL, and SQLite
            # refuses all but one with "database is locked" at once (its busy handler, when there was one,
            # was never asked). So the set-up takes turns under a file lock, held for milliseconds once
            # per process.
            with file_lock(self.path.with_name(self.path.name + ".lock")):
                db.execute("PRAGMA journal_mode=WAL")
                for statement in self._schema:
                    db.execute(statement)
            self._connection, self._pid = db, os.getpid()
        return self._connection


class _TakingTurns(sqlite3.Connection):
    """A connection that waits for another process's write lock between tries, in cooperative sleeps.

    SQLite's own busy handler sleeps inside the library (1, 2, 5, 10 ... ms), and under gevent that stands
    the worker's whole event loop still. With two workers answering together the bench counted about one
    such sleep per request, 1-25 ms each. A statement that failed with SQLITE_BUSY did nothing, so it is
    tried again: outside a transaction (BEGIN IMMEDIATE included), which is where this store's writes
    take the lock; inside one the lock is already held, and SQLite says to roll back instead.
    executemany is left alone: this store runs it only inside its transactions.
    """

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        pauses = None
        while True:
            may_retry = not self.in_transaction
            try:
                return super().execute(sql, parameters)
            except sqlite3.OperationalError as exc:
                code = getattr(exc, "sqlite_errorcode", None) or 0  # None: raised by the module, not by SQLite
                if not (may_retry and code & 0xFF == sqlite3.SQLITE_BUSY):
                    raise
                pauses = pauses or Pauses(BUSY_WAIT_SECONDS)
                if not pauses.wait():
                    raise


class ValueTable:
    """Remembered values: one SQLite table shared by every worker of the machine.

    A value is written on nearly every answer, so it must cost microseconds: a file per value cost a
    create and a rename each (hundreds of microseconds on ext4, during which the gevent worker stands
    still). SQLite in WAL mode takes one write at a time from several processes and never makes a
    reader wait. `synchronous=OFF`: these are hints (losing the newest ones to a power cut costs a
    continued chat its parent id, nothing more), so no write waits for the disk.
    """

    def __init__(self, path: Path):
        self._db = Database(path, "OFF", (
            "CREATE TABLE IF NOT EXISTS value (name TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL)",
            "CREATE INDEX IF NOT EXISTS value_expires ON value (expires)"))
        self._written = 0

    def put(self, name: str, value: str, expires: float) -> None:
        with self._db.connection() as db:
            db.execute(_PUT_VALUE, (name, value, expires))
            self._count_written(db, 1)

    def put_many(self, rows: list[tuple[str, str, float]]) -> None:
        """(name, value, expires) rows in one statement, so one transaction and one commit however many
        (cheaper than BEGIN, executemany, COMMIT: three calls into SQLite instead of one)."""
        if not rows:
            return
        statement = _PUT_VALUE + ", (?, ?, ?)" * (len(rows) - 1)
        with self._db.connection() as db:
            db.execute(statement, [part for row in rows for part in row])
            self._count_written(db, len(rows))

    def _count_written(self, db: sqlite3.Connection, count: int) -> None:
        before, self._written = self._written, self._written + count
        if before // PRUNE_EVERY != self._written // PRUNE_EVERY:
            db.execute("DELETE FROM value WHERE expires <= ?", (time.time(),))

    def get(self, name: str, now: float) -> Optional[str]:
        with self._db.connection() as db:
            row = db.execute("SELECT value FROM value WHERE name = ? AND expires > ?", (name, now)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._db.close()


class UsageTables:
    """Usage counts (named hashes of numbers, added to by an upsert) and append-only row logs (indexed on
    name and time, trimmed by age as rows are added). `synchronous=OFF`, as for remembered values: a power
    cut may lose the last second of counts, and nothing depends on them but the owner's console."""

    def __init__(self, path: Path):
        self._db = Database(path, "OFF", (
            "CREATE TABLE IF NOT EXISTS count (name TEXT NOT NULL, field TEXT NOT NULL, value REAL NOT NULL, "
            "expires REAL NOT NULL, PRIMARY KEY (name, field))",
            "CREATE INDEX IF NOT EXISTS count_expires ON count (expires)",
            "CREATE TABLE IF NOT EXISTS row (name TEXT NOT NULL, at REAL NOT NULL, value TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS row_name_at ON row (name, at)"))

    def add_counts(self, counts: Mapping[str, Mapping[str, float]], expires: float) -> None:
        added = [(name, field, amount, expires) for name, fields in counts.items() for field, amount in fields.items()]
        with self._db.transaction() as db:
            db.executemany("INSERT INTO count (name, field, value, expires) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (name, field) DO UPDATE SET value = value + excluded.value, "
                           "expires = excluded.expires", added)
            db.execute("DELETE FROM count WHERE expires <= ?", (time.time(),))

    def read_counts(self, names: list[str], now: float) -> list[dict[str, float]]:
        found: dict[str, dict[str, float]] = {name: {} for name in names}
        with self._db.connection() as db:
            for name in names:
                for field, value in db.execute("SELECT field, value FROM count WHERE name = ? AND expires > ?",
                                               (name, now)):
                    found[name][field] = value
        return [found[name] for name in names]

    def append_rows(self, name: str, rows: list[tuple[float, str]], keep_seconds: float, keep_rows: int = 0) -> None:
        if not rows:
            return
        with self._db.transaction() as db:
            db.executemany("INSERT INTO row (name, at, value) VALUES (?, ?, ?)", [(name, at, value) for at, value in rows])
            db.execute("DELETE FROM row WHERE name = ? AND at < ?", (name, max(at for at, _ in rows) - keep_seconds))
            if keep_rows:  # the index walked back from the newest row: rows of the cut-off's time are kept
                db.execute("DELETE FROM row WHERE name = ? AND at < (SELECT at FROM row WHERE name = ? "
                           "ORDER BY at DESC LIMIT 1 OFFSET ?)", (name, name, keep_rows - 1))

    def read_rows(self, name: str, since: float, limit: int) -> list[tuple[float, str]]:
        with self._db.connection() as db:
            return db.execute("SELECT at, value FROM row WHERE name = ? AND at >= ? ORDER BY at DESC LIMIT ?",
                              (name, since, limit)).fetchall()

    def close(self) -> None:
        self._db.close()


class RecordTable:
    """Sections kept one record per row: `modify` reads the section whole, as for any section, but writes
    back only the records its change added, altered or removed, in one transaction. `synchronous=FULL`:
    a saved account (a rotated refresh token exists nowhere else) is on disk when the change returns,
    and a process killed mid-write leaves the last committed version (`OFF` for sections that are hints)."""

    def __init__(self, path: Path, synchronous: str = "FULL"):
        self._db = Database(path, synchronous, (
            "CREATE TABLE IF NOT EXISTS record (section TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
            "PRIMARY KEY (section, key))",
            "CREATE TABLE IF NOT EXISTS adopted (section TEXT PRIMARY KEY)"))
        self._known: dict[str, dict[str, tuple[str, Any]]] = {}

    def read(self, section: str) -> dict[str, Any]:
        with self._db.connection() as db:
            return {key: json.loads(value) for key, value in _rows(db, section).items()}

    def modify(self, section: str, change: Callable[[dict[str, Any]], T]) -> T:
        """Apply `change` atomically; the caller holds the section's lock, so no re-run is needed."""
        with self._db.transaction() as db:
            before = _rows(db, section)
            data = {key: json.loads(value) for key, value in before.items()}
            result = change(data)
            reference = self._decoded(section, before)  # compared, not re-encoded: 11k records cost 50 ms to encode
            changed = [(section, str(key), json.dumps(value, separators=(",", ":")))
                       for key, value in data.items() if key not in reference or value != reference[key]]
            db.executemany("INSERT OR REPLACE INTO record (section, key, value) VALUES (?, ?, ?)", changed)
            db.executemany("DELETE FROM record WHERE section = ? AND key = ?",
                           [(section, key) for key in before.keys() - data.keys()])
        return result

    def _decoded(self, section: str, rows: dict[str, str]) -> dict[str, Any]:
        """The section's records as last read, decoded once per version of each row and kept read-only."""
        known = self._known.get(section, {})
        fresh = {key: known[key] if key in known and known[key][0] == raw else (raw, json.loads(raw))
                 for key, raw in rows.items()}
        self._known[section] = fresh
        return {key: decoded for key, (_, decoded) in fresh.items()}

    def adopt(self, section: str, legacy: Path) -> None:
        """Move a section an older version kept as one JSON file into the table, once: the copy and the
        mark that it was made commit together, so a crash before the file is deleted never copies again
        (over changes made since)."""
        with self._db.transaction() as db:
            if db.execute("SELECT 1 FROM adopted WHERE section = ?", (section,)).fetchone() is None:
                records = json.loads(legacy.read_bytes() or b"{}")
                db.execute("DELETE FROM record WHERE section = ?", (section,))
                db.executemany("INSERT INTO record (section, key, value) VALUES (?, ?, ?)",
                               [(section, key, json.dumps(value, separators=(",", ":")))
                                for key, value in records.items()])
                db.execute("INSERT INTO adopted (section) VALUES (?)", (section,))
        legacy.unlink()

    def close(self) -> None:
        self._db.close()


def _rows(db: sqlite3.Connection, section: str) -> dict[str, str]:
    return dict(db.execute("SELECT key, value FROM record WHERE section = ?", (section,)))
