"""Refresh token -> access token and user id (docs/kimi-protocol.md B.1), cached until shortly before the
access token expires, with one refresh in flight per refresh token however many requests need it.
Kimi rotates the refresh token on each refresh (A.2): the newest is kept in memory, and an optional
`on_rotated` hook lets the token's owner (the account pool) store it for good.

Uses threading primitives only: under gunicorn's gevent worker they are monkey-patched into
greenlet-aware ones, so waiting greenlets yield to the one doing the refresh.
"""
from __future__ import annotations

import copy
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from kimi import errors, tokens
from kimi.rest import Transport
from kimi.transport import Endpoints

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Access:
    token: str
    user_id: str
    expires_at: float  # wall-clock seconds; the cache treats the token as stale from here on


# on_rotated(old, new): callers asked with refresh token `old`, and its exchange (of `old`, or of the
# newest successor this cache keeps for it) brought `new`. True when the hook stored `new` in place of
# `old` (a saved account), so callers will ask with `new` from now on.
RotationHook = Callable[[str, str], bool]


@dataclass
class _Entry:
    access: Access
    refresh_token: str  # the newest one Kimi handed out (it may rotate them, B.1)


class _Flight:
    """One refresh in progress: the greenlet doing it fills in result or error, then sets done."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Optional[_Entry] = None
        self.error: Optional[errors.KimiError] = None


class AccessTokens:
    """Access tokens per refresh token. `ttl` applies when the access token carries no `exp`
    (KFA caches 300 s); `margin` is how long before `exp` a token is renewed."""

    def __init__(self, transport: Transport, endpoints: Endpoints, *, ttl: float = 300, margin: float = 60,
                 clock: Callable[[], float] = time.time, on_rotated: Optional[RotationHook] = None):
        self.transport, self.endpoints = transport, endpoints  # the legacy host, and its refresh and user paths
        self.ttl = ttl
        self.margin = margin
        self.clock = clock
        self.on_rotated = on_rotated
        self._lock = threading.Lock()
        self._cache: dict[str, _Entry] = {}  # keyed by a hash: no token is kept as a dict key
        self._flights: dict[str, _Flight] = {}

    def get(self, refresh_token: str) -> Access:
        """A live access token; AuthRejected when Kimi refuses the refresh token."""
        key = _key(refresh_token)
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.access.expires_at > self.clock():
                return entry.access
            flight = self._flights.get(key)
            is_leader = flight is None
            if is_leader:
                flight = self._flights[key] = _Flight()
        if is_leader:
            self._fly(refresh_token, flight, entry.refresh_token if entry else refresh_token)
        elif not flight.done.wait(self.transport.timeout[0] + 2 * self.transport.timeout[1]):
            raise errors.UpstreamTimeout("Kimi's token refresh did not finish in time.", code="upstream_timeout")
        if flight.error is not None:
            raise copy.copy(flight.error)  # a copy each: waiters must not share one traceback
        return flight.result.access

    def drop(self, refresh_token: str) -> None:
        """Forget the cached access token (after a 401 or `auth.token.invalid`, B.1)."""
        with self._lock:
            self._cache.pop(_key(refresh_token), None)

    def _fly(self, asked_with: str, flight: _Flight, refresh_token: str) -> None:
        """Exchange `refresh_token` for the callers who asked with `asked_with` (the same token, or the
        first of a chain whose newest link is `refresh_token`), then cache the result for them."""
        is_handed_over = False
        try:
            flight.result = self._exchange(refresh_token)
            is_handed_over = self._report_rotation(asked_with, flight.result.refresh_token)
        except errors.KimiError as exc:
            flight.error = exc
        finally:
            if flight.result is None and flight.error is None:  # a bug below us: waiters still get an answer
                flight.error = errors.UpstreamUnavailable("Kimi's token refresh failed.", code="refresh_failed")
            key = _key(asked_with)
            with self._lock:
                if flight.result is None:
                    self._cache.pop(key, None)  # next time start over from the caller's own token
                elif is_handed_over:
                    self._hand_over(key, asked_with, flight.result)
                else:
                    self._cache[key] = flight.result
                self._flights.pop(key, None)
                self._forget_stale_entries()
            flight.done.set()

    def _report_rotation(self, asked_with: str, newest: str) -> bool:
        """Whether the hook stored `newest` in place of the token the callers asked with."""
        return newest != asked_with and self.on_rotated is not None and self.on_rotated(asked_with, newest)

    def _hand_over(self, key: str, old_token: str, entry: _Entry) -> None:
        """Cache `entry` under its own (new) refresh token, which its owner lends from now on. The old
        token keeps only the access token until that goes stale, for requests lent it just before the
        rotation; it never refreshes through the new token, so a restart's behaviour (the old token
        may be void) is not hidden by this worker's memory."""
        self._cache[_key(entry.refresh_token)] = entry
        self._cache[key] = _Entry(entry.access, old_token)

    def _forget_stale_entries(self) -> None:
        """Drop stale entries that lead nowhere new (their refresh token is their own key): the next
        lookup would exchange that same token anyway. Called with the lock held, once per refresh."""
        now = self.clock()
        for key in [k for k, entry in self._cache.items()
                    if entry.access.expires_at <= now and _key(entry.refresh_token) == k]:
            del self._cache[key]

    def _exchange(self, refresh_token: str) -> _Entry:
        headers = self.transport.headers(refresh_token)
        try:
            body = self.transport.call_json("GET", self.endpoints.legacy_refresh_path, headers)
        except errors.AuthRejected:
            raise errors.AuthRejected("Kimi refused the refresh token; log in to Kimi again and copy a fresh "
                                      "refresh_token.", code="refresh_rejected") from None
        access_token, new_refresh = tokens.token_pair(body)
        if not access_token:
            raise errors.AuthRejected("Kimi's refresh call returned no access token.", code="refresh_rejected")
        user = self.transport.call_json("GET", self.endpoints.user_path, self.transport.headers(access_token))
        user_id = user.get("id") if isinstance(user, dict) else None
        if not user_id:  # KFA fails here too: every later call needs X-Traffic-Id
            raise errors.ProtocolError("Kimi's user info carries no user id.", code="bad_user")
        log.info("legacy access token refreshed for user:%s", user_id)
        access = Access(access_token, str(user_id), self._expiry(access_token))
        return _Entry(access, new_refresh or refresh_token)

    def _expiry(self, access_token: str) -> float:
        now = self.clock()
        exp = (tokens.read_claims(access_token) or {}).get("exp")
        if isinstance(exp, (int, float)):
            return max(now, exp - self.margin)
        return now + self.ttl


def _key(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()
