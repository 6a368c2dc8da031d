"""Policies that keep the owner's free Kimi accounts from being banned (a gap between request starts, a
daily cap, a circuit after repeated refusals) and the limits an owner puts on one proxy key (models, a
daily cap, an expiry). Pure: the pool and the keyring keep the facts in the store and ask here.

An account's runtime status (the pool's "runtime" section) carries the facts these read: `last_used`
(when its last request started), `day`/`day_requests`, `refusals` (consecutive), `refusals_day`/
`refusals_today`, `circuit_open`, `last_success_at`, `last_refusal_at`, `last_refusal`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, time as clock_time, timedelta, timezone
from typing import Any, Callable, Iterable, Optional

from kimi.errors import BadRequest

# Why an account cannot start a request now, as the pool's refusal codes name them.
INTERVAL, DAILY_CAP, CIRCUIT = "accounts_min_interval", "accounts_daily_cap", "accounts_circuit_open"


@dataclass(frozen=True)
class AccountPolicy:
    """How often one account may be used: `min_interval` seconds between the starts of two requests
    (0: off), `daily_cap` requests per UTC day (0: none), and the circuit that opens after
    `circuit_refusals` refusals by Kimi in a row (0: never)."""

    min_interval: float = 0
    daily_cap: int = 0
    circuit_refusals: int = 3

    def for_record(self, record: dict[str, Any]) -> "AccountPolicy":
        """This policy with the account's own overrides (saved on /auth in the record's `policy`)."""
        own = {k: v for k, v in (record.get("policy") or {}).items() if k in ("min_interval", "daily_cap")}
        return replace(self, **own) if own else self


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).date().isoformat()


def seconds_to_midnight(now: float) -> int:
    """Whole seconds until the next UTC midnight (at least 1), when daily counts start again."""
    today = datetime.fromtimestamp(now, timezone.utc).date()
    midnight = datetime.combine(today + timedelta(days=1), clock_time(), timezone.utc).timestamp()
    return max(1, math.ceil(midnight - now))


def requests_today(status: dict[str, Any], now: float) -> int:
    return status.get("day_requests", 0) if status.get("day") == utc_day(now) else 0


def refusals_today(status: dict[str, Any], now: float) -> int:
    return status.get("refusals_today", 0) if status.get("refusals_day") == utc_day(now) else 0


def blocked_by(policy: AccountPolicy, status: dict[str, Any], now: float) -> Optional[tuple[str, float]]:
    """Why the policy keeps this account from starting a request now, and for how many seconds
    (infinite for an open circuit, which only the owner closes); None when it may start one."""
    if status.get("circuit_open"):
        return CIRCUIT, math.inf
    if policy.daily_cap and requests_today(status, now) >= policy.daily_cap:
        return DAILY_CAP, seconds_to_midnight(now)
    wait = status.get("last_used", 0) + policy.min_interval - now
    if policy.min_interval and wait > 0:
        return INTERVAL, wait
    return None


def count_start(status: dict[str, Any], now: float) -> None:
    """Note on the status that a request starts on the account now."""
    status.update(last_used=now, day=utc_day(now), day_requests=requests_today(status, now) + 1)


def count_success(status: dict[str, Any], now: float) -> None:
    """Kimi served the account: the refusals in a row start again from none."""
    status.update(last_success_at=now, refusals=0)


def count_refusal(status: dict[str, Any], reason: str, now: float, circuit_refusals: int) -> bool:
    """Note a refusal by Kimi; returns whether it opens the account's circuit just now."""
    refusals = status.get("refusals", 0) + 1
    status.update(refusals=refusals, last_refusal=reason[:300], last_refusal_at=now,
                  refusals_day=utc_day(now), refusals_today=refusals_today(status, now) + 1)
    opens = bool(circuit_refusals) and refusals >= circuit_refusals and not status.get("circuit_open")
    if opens:
        status.update(circuit_open=True, circuit_opened_at=now)
    return opens


def close_circuit(status: dict[str, Any]) -> None:
    """The owner's passing check: the account is lent again, its refusals forgotten."""
    status.update(circuit_open=False, refusals=0)


def health(status: dict[str, Any], now: float) -> dict[str, Any]:
    """What /auth shows about how Kimi has treated the account lately (Unix seconds or None)."""
    return {"last_success_at": status.get("last_success_at"), "last_refusal_at": status.get("last_refusal_at"),
            "last_refusal": status.get("last_refusal") or "", "refusals_today": refusals_today(status, now),
            "refusals_in_a_row": status.get("refusals", 0), "requests_today": requests_today(status, now),
            "circuit_open": bool(status.get("circuit_open"))}


# Reading what the owner typed on /auth

def read_count(text: Optional[str], field: str) -> Optional[int]:
    """A whole number of at least 0 (0 and empty: the default applies, None); BadRequest naming `field`."""
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise BadRequest(f"{field} must be a whole number of 0 or more.", code="bad_policy", param=field)
    return int(text) or None


def read_seconds(text: Optional[str], field: str) -> Optional[float]:
    """Seconds of 0 or more, fractions allowed (0 and empty: None); BadRequest naming `field`."""
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= 86400 or math.isnan(seconds):
        raise BadRequest(f"{field} must be a number of seconds from 0 to 86400.", code="bad_policy", param=field)
    return seconds or None


def read_models(text: Optional[str]) -> tuple[str, ...]:
    """Model ids or aliases, separated by commas, spaces or lines (empty: every model)."""
    return tuple(dict.fromkeys(part for part in (text or "").replace(",", " ").split() if part))


def read_expiry(text: Optional[str]) -> Optional[float]:
    """A date (YYYY-MM-DD) as the moment the key stops working: the end of that UTC day; empty: never."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
        end = datetime.combine(day + timedelta(days=1), clock_time(), timezone.utc).timestamp()
    except (ValueError, OverflowError):  # not a date, or 9999-12-31, whose end is past the calendar's
        end = -1
    if end <= 0:  # nor a day before 1970, which a stored expiry of 0 would read as "never"
        raise BadRequest("The expiry must be a date written YYYY-MM-DD.", code="bad_policy", param="expires")
    return end


def expiry_date(expires_at: Optional[float]) -> str:
    """The date a form shows for an expiry read by read_expiry() (its last valid UTC day)."""
    if not expires_at:
        return ""
    return (datetime.fromtimestamp(expires_at, timezone.utc) - timedelta(seconds=1)).date().isoformat()


def is_model_allowed(allowed: Iterable[str], model_id: str, resolve: Callable[[str], str]) -> bool:
    """Whether a key limited to `allowed` may ask for `model_id`: an empty list allows every model; an
    alias counts as the model it resolves to, whichever side names it."""
    allowed = tuple(allowed)
    if not allowed or model_id in allowed:
        return True
    return resolve(model_id) in {resolve(name) for name in allowed}
