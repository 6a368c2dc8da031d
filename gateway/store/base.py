"""The store's interface: what every backend offers (FileStore in file.py, RedisStore in redis.py).

Server-side state kept across requests, workers and restarts: saved accounts, proxy keys (hashed),
account runtime status, rate-limit counters and generated secrets. Data lives in named sections,
each one JSON object that is read whole and changed by a function (`modify`), so a backend may re-run
the change when another writer got there first. Remembered values (many small, short-lived, written
on every answer) live apart from the sections.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Optional, TypeVar

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

    def recall(self, name: str) -> Optional[str]:
        """The value remembered under `name`, or None."""
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
