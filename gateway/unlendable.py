"""Why the pool cannot lend an account right now, told as the error the caller gets: a limit that lifts
with time (429 with the wait until the earliest account is ready, its code naming the limit), or no usable
account at all (401 naming the /auth page). Pure: the pool hands in what it read.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

from gateway import accounts, policies
from kimi.errors import AuthRejected, KimiError, RateLimited

AUTH_PAGE = "/auth"
# Legacy accounts are lent too: their requests take the legacy REST path.
LENDABLE_STATES = ("active", "legacy")

_STATE_WORDS = {"expired": "expired", "reimport": "needing re-import", "rejected": "rejected by Kimi",
                "disabled": "disabled", "circuit": f"paused after repeated refusals (check it on {AUTH_PAGE})",
                "legacy": "legacy-only (refresh token path)", "unreachable": "not renewable right now"}

# Why no account could start a request, as the caller hears it (the code names the limit).
_LIMIT_MESSAGES = {
    "accounts_cooling_down": "Every Kimi account of this server is resting after Kimi's rate limit.",
    "accounts_busy": "Every Kimi account of this server is busy with other streams.",
    policies.INTERVAL: "Every Kimi account of this server started a request moments ago, and its owner spaces "
                       "requests out (ACCOUNT_MIN_INTERVAL) to keep the accounts safe.",
    policies.DAILY_CAP: "Every Kimi account of this server has made its daily number of requests "
                        "(ACCOUNT_DAILY_CAP); the count starts again at midnight UTC.",
}
BUSY_WAIT = 2  # seconds: a stream slot frees as soon as any answer ends


def why_unlendable(records: dict[str, Any], runtime: dict[str, Any], skipped: set[str], now: float,
                   policy: policies.AccountPolicy) -> KimiError:
    """The error for a request no account could start: `skipped` were tried and failed already."""
    if not records:
        return AuthRejected("No Kimi token: this server has no Kimi account of its own yet. Its owner adds "
                            f"one on the {AUTH_PAGE} page (the `access_token` and `refresh_token` from "
                            "www.kimi.com's Local Storage), or sets KIMI_TOKEN. You may also send your own "
                            "Kimi access token as the API key.", code="no_account")
    states = Counter()
    ready_in = []  # (seconds, code): when each account held back by a limit may start a request again
    for record in records.values():
        status = runtime.get(record["id"], {})
        state = accounts.state_of(record, status, now)
        if state in LENDABLE_STATES and record["id"] in skipped:
            state = "unreachable"
        states[state] += 1
        if state == "cooling":
            ready_in.append((status["cooldown_until"] - now, "accounts_cooling_down"))
        elif state in LENDABLE_STATES:
            limit = policies.blocked_by(policy.for_record(record), status, now)
            ready_in.append((limit[1], limit[0]) if limit else (BUSY_WAIT, "accounts_busy"))
    if ready_in:
        seconds, code = min(ready_in)
        return RateLimited(_LIMIT_MESSAGES[code], retry_after=max(1, math.ceil(seconds)), code=code)
    summary = ", ".join(f"{count} {_STATE_WORDS[state]}" for state, count in sorted(states.items()))
    if states["reimport"]:
        # Kimi's reason is worth more than the count here (whose chain died, and why); one is enough.
        reason = next(r["rejected"] for r in records.values() if r.get("reimport") and r.get("rejected"))
        return AuthRejected(f"No usable Kimi account on this server ({summary}). {reason}",
                            code="account_needs_reimport")
    if states["circuit"]:
        return AuthRejected(f"No usable Kimi account on this server ({summary}). Kimi refused the paused "
                            f"ones {policy.circuit_refusals} times in a row; its owner checks them on the "
                            f"{AUTH_PAGE} page to lend them again.", code=policies.CIRCUIT)
    return AuthRejected(f"No usable Kimi account on this server ({summary}). Its owner can save a fresh "
                        f"login on the {AUTH_PAGE} page.", code="no_usable_account")
