"""The store's interface: what every backend offers (FileStore in file.py, RedisStore in redis.py).

Server-side state kept across requests, workers and restarts: saved accounts, proxy keys (hashed),
account runtime status, rate-limit counters and generated secrets. Data lives in named sections,
each one JSON object that is read whole and changed by a function (`modify`), so a backend may re-run
the change when another writer got there first. Remembered values (many small, short-lived, written
on every answer) live apart from the sections, and so do usage counts and the request log (named hashes of
numbers added to, and append-only rows trimmed by age), each written in batches.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterable, Mapping, Optional, TypeVar

from kimi.errors import KimiError

T = TypeVar("T")


class StoreUnavailable(KimiError):
    """The store cannot be reached (Redis down or restarting): every API answers 503 in its own shape."""
    status = 503
    default_message = "The gateway's state store is unreachable; try again shortly."


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

    def lock(self, name: str, timeout: float = 30, expires: float = 60) -> contextlib.AbstractContextManager:
        """A mutex shared by every worker using this store; TimeoutError when not won in time. A holder
        that dies frees it: at once on files, `expires` seconds after taking it on Redis."""
        raise NotImplementedError

    def remember(self, name: str, value: str, ttl: int) -> None:
        """Keep a small value under `name` for `ttl` seconds (older values may be dropped sooner)."""
        raise NotImplementedError

    def remember_many(self, items: Iterable[tuple[str, str, int]]) -> None:
        """remember() each (name, value, ttl) in one write: the values a turn keeps at one moment cost
        one transaction or round trip, not one each."""
        for name, value, ttl in items:
            self.remember(name, value, ttl)

    def recall(self, name: str) -> Optional[str]:
        """The value remembered under `name`, or None."""
        raise NotImplementedError

    def add_counts(self, counts: Mapping[str, Mapping[str, float]], ttl: int) -> None:
        """Add each number to its field of its named hash ({name: {field: amount}}), all in one batch,
        atomically per field; each hash written lives `ttl` seconds from now."""
        raise NotImplementedError

    def read_counts(self, names: Iterable[str]) -> list[dict[str, float]]:
        """Each named hash's fields and totals, in the order asked (an empty dict for one never written)."""
        raise NotImplementedError

    def append_rows(self, name: str, rows: list[tuple[float, str]], keep_seconds: float, keep_rows: int = 0) -> None:
        """Append (time, text) rows to the named log in one batch, and drop its rows older than
        `keep_seconds` before the newest row given and, with `keep_rows`, all but about the newest that many."""
        raise NotImplementedError

    def read_rows(self, name: str, since: float, limit: int) -> list[tuple[float, str]]:
        """The named log's rows from `since` on, newest first, at most `limit` of them."""
        raise NotImplementedError

    def sweep_temporary(self) -> int:
        """Delete what writes cut short by a crash left behind; how many pieces (none on most backends)."""
        return 0

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


def window_bounds(window: int) -> tuple[int, float]:
    now = time.time()
    start = int(now // window * window)
    return start, start + window - now
