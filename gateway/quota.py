"""Each saved account's quota readout for /auth and /auth/status (docs/kimi-protocol.md D.6): asked of Kimi
in the background, kept in the store for `quota_ttl` seconds so every worker's page loads share one call,
and never asked on a chat's path. Built once by gateway/services.py; kimi/quota.py makes the call."""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict
from typing import Any, Optional

from gateway import accounts
from gateway.pasted import iso
from gateway.store import Store
from kimi import tokens
from kimi.errors import KimiError
from kimi.quota import KIMI_CODE_WINDOWS, QuotaClient, membership_level

log = logging.getLogger(__name__)

RETRY_SECONDS = 60  # after a failed call, this worker asks again only this much later (Kimi may be down)
_UNKNOWN = {"used_ratio": None, "remaining_ratio": None, "kimi_code_used_ratio": None, "resets_at": None,
            "windows": [], "checked_at": None}


class QuotaBoard:
    """Readouts by account id. At most `max_fetches` calls run at once per worker; a page waits for them
    only `wait` seconds, and a call still running then fills the store for the next load."""

    def __init__(self, client: QuotaClient, store: Store, ttl: int, max_fetches: int = 4):
        self.client, self.store, self.ttl = client, store, ttl
        self.max_fetches = max_fetches
        self._fetching: dict[str, threading.Event] = {}
        self._failed_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def readouts(self, wait: float) -> dict[str, dict[str, Any]]:
        """Every saved account's readout (token-free), waiting up to `wait` seconds for missing ones."""
        records = self.store.read("accounts")
        kept = {account_id: self._kept(account_id) for account_id in records}
        asked = [self._ask(record) for account_id, record in records.items()
                 if kept[account_id] is None and self._is_askable(record)]
        deadline = time.monotonic() + wait
        for done in filter(None, asked):
            done.wait(max(0.0, deadline - time.monotonic()))
        return {account_id: readout(record, kept[account_id] or self._kept(account_id))
                for account_id, record in records.items()}

    def _is_askable(self, record: dict[str, Any]) -> bool:
        """An account the pool could lend, with a live access token, which this worker did not fail to
        ask lately. A due token is not renewed for a readout: a page view never rotates the refresh
        chain (D.1), and the pool renews it at the account's next use."""
        claims = accounts.access_claims(record)
        if not self.ttl or not claims or tokens.is_expired(claims) or accounts.state_of(record, {}) != "active":
            return False
        return self._failed_until.get(record["id"], 0.0) <= time.monotonic()

    def _ask(self, record: dict[str, Any]) -> Optional[threading.Event]:
        """The event set when this account's call ends (one call per account at a time); None when
        `max_fetches` calls run already."""
        account_id = record["id"]
        with self._lock:
            if account_id in self._fetching:
                return self._fetching[account_id]
            if len(self._fetching) >= self.max_fetches:
                return None
            done = self._fetching[account_id] = threading.Event()
        threading.Thread(target=self._fetch, args=(account_id, done), daemon=True).start()
        return done

    def _fetch(self, account_id: str, done: threading.Event) -> None:
        try:
            quota = self.client.fetch(self._token(account_id))
            self.store.remember(_key(account_id), json.dumps({**asdict(quota), "checked_at": time.time()}), self.ttl)
        except KimiError as err:
            # INFO: the page shows "unknown"; a refused token is reported where the account is lent.
            log.info("could not read the quota of Kimi account %s (%s)", account_id, err.code or type(err).__name__)
            self._failed_until[account_id] = time.monotonic() + RETRY_SECONDS
        except Exception:  # a bug must not end the worker's background greenlet silently
            log.exception("reading the quota of Kimi account %s failed", account_id)
            self._failed_until[account_id] = time.monotonic() + RETRY_SECONDS
        finally:
            with self._lock:
                self._fetching.pop(account_id, None)
            done.set()

    def _token(self, account_id: str) -> str:
        """The account's access token as stored now (the pool may have renewed it since the page read it)."""
        return (self.store.read("accounts").get(account_id) or {}).get("access_token") or ""

    def _kept(self, account_id: str) -> Optional[dict[str, Any]]:
        stored = self.store.recall(_key(account_id))
        return json.loads(stored) if stored else None


def readout(record: dict[str, Any], kept: Optional[dict[str, Any]]) -> dict[str, Any]:
    """What /auth and /auth/status show of an account's quota: its membership level (from the access
    JWT), whether it is paid, and the kept readout or "unknown". Ratios run 0..1; times are ISO UTC."""
    level = membership_level(accounts.access_claims(record))
    has_kimi_code = any(window["name"] in KIMI_CODE_WINDOWS for window in (kept or {}).get("windows", ()))
    shown = {"state": "known" if kept else "unknown", "membership_level": level,
             # A paid plan shares its monthly pool with Kimi Code (B.2.3), so web chat draws on it; Kimi
             # Code windows come only with one (a free account showed only its balance, B.6).
             "is_paid": (level is not None and level != "LEVEL_FREE") or has_kimi_code}
    if not kept:
        return {**shown, **_UNKNOWN}
    used = kept["used_ratio"]
    return {**shown, "used_ratio": used, "remaining_ratio": None if used is None else round(1 - used, 6),
            "kimi_code_used_ratio": kept["kimi_code_used_ratio"], "resets_at": iso(kept["resets_at"]),
            "windows": [{"name": w["name"], "used_ratio": w["used_ratio"], "resets_at": iso(w["resets_at"])}
                        for w in kept["windows"]],
            "checked_at": iso(kept["checked_at"])}


def _key(account_id: str) -> str:
    return "quota:" + account_id
