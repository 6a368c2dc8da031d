"""The throttle on admin password checks: wrong guesses slow their guesser down, never lock the owner out.

Each client address has a few free failures per window; after them its checks are spaced out, the gap
doubling with each further failure up to `max_delay` seconds. All clients together may fail `ceiling`
times per hour before every check is spaced `3600 / ceiling` seconds apart. A check is never refused for
failures alone: it waits for its turn (a reserved slot, so parallel guesses from one client queue instead
of racing) and the right password then passes. Only a queue longer than `max_wait` is answered with
"retry later", which a single person typing passwords never meets (their gap is at most `max_delay`).
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

from gateway.store import Store
from kimi.errors import RateLimited

SECTION = "login-throttle"
CLIENT_WINDOW = 15 * 60
GLOBAL_WINDOW = 3600
MAX_CLIENTS = 10_000  # clients remembered at once: the section stays small whatever addresses guessers use


class LoginThrottle:
    def __init__(self, store: Store, free_failures: int = 5, max_delay: float = 30, ceiling: int = 600,
                 max_wait: float = 60, clock: Callable[[], float] = time.time):
        self.store = store
        self.free_failures = free_failures
        self.max_delay = max_delay
        self.ceiling = ceiling
        self.max_wait = max(max_wait, max_delay)
        self.clock = clock

    def reserve(self, client: str) -> float:
        """Seconds this client's check must wait for its turn (0 while nobody guessed much); the turn is
        booked. RateLimited when the queue ahead is longer than `max_wait`."""
        now = self.clock()

        def book(state: dict[str, Any]) -> float:
            _forget_old(state, now)
            mine = state["clients"].get(client) or _counter(now)
            everyone = state["global"]
            spacings = [(mine, self._client_gap(mine)), (everyone, self._global_gap(everyone))]
            slot = max([now] + [counter["next"] for counter, gap in spacings if gap])
            if slot - now > self.max_wait:
                return slot - now, False
            for counter, gap in spacings:
                if gap:
                    counter["next"] = slot + gap
            if self._client_gap(mine):
                state["clients"][client] = mine
            return slot - now, True

        wait, booked = self.store.modify(SECTION, book)
        if not booked:
            raise RateLimited("Too many wrong admin passwords; wait before trying again.",
                              retry_after=max(1, math.ceil(wait - self.max_wait)), code="too_many_logins")
        return wait

    def record_failure(self, client: str) -> None:
        now = self.clock()

        def count(state: dict[str, Any]) -> None:
            _forget_old(state, now)
            mine = state["clients"].setdefault(client, _counter(now))
            for counter in (mine, state["global"]):
                counter["failures"] += 1
            if len(state["clients"]) > MAX_CLIENTS:
                oldest = min(state["clients"], key=lambda name: state["clients"][name]["since"])
                del state["clients"][oldest]

        self.store.modify(SECTION, count)

    def _client_gap(self, counter: dict[str, Any]) -> float:
        extra = counter["failures"] - self.free_failures
        return 0 if extra < 0 else min(self.max_delay, 2.0 ** extra)

    def _global_gap(self, counter: dict[str, Any]) -> float:
        return GLOBAL_WINDOW / self.ceiling if self.ceiling and counter["failures"] >= self.ceiling else 0


def _counter(now: float) -> dict[str, Any]:
    return {"failures": 0, "since": now, "next": 0.0}


def _forget_old(state: dict[str, Any], now: float) -> None:
    """Drop the counters whose window ended (and whose booked turn has passed)."""
    clients = state.setdefault("clients", {})
    for name in [n for n, c in clients.items() if c["since"] + CLIENT_WINDOW <= now and c["next"] <= now]:
        del clients[name]
    everyone = state.get("global")
    if everyone is None or (everyone["since"] + GLOBAL_WINDOW <= now and everyone["next"] <= now):
        state["global"] = _counter(now)
