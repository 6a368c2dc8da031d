"""Saved Kimi accounts as plain records: telling an account's state, when to renew it, and the token-free
view of one that pages, /auth/status and /health show (gateway/pasted.py reads what an owner pasted).
Pure: no I/O here.

An account holds an access JWT, a refresh token, or both (docs/kimi-protocol.md A.2, D.1).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any, Optional

from gateway import policies
from gateway.pasted import EXPIRY_LEEWAY, is_chain_refresh, iso, short_prefix
from kimi import tokens

# States, in the order the page explains them. "reimport": Kimi refused the refresh token, so only
# saving the account again (a fresh login's tokens) brings it back.
# "circuit": Kimi refused it ACCOUNT_CIRCUIT_REFUSALS times in a row; a passing check lends it again.
STATES = ("active", "expired", "reimport", "rejected", "cooling", "circuit", "disabled", "legacy")
# How long before its `exp` an access token is renewed: 2–3 minutes, as careful clients do (D.1).
RENEW_AHEAD = 150
SOON_SECONDS = 24 * 3600  # an access token with less left than this is flagged on the page and in /health


def new_account(credentials: dict[str, Optional[str]], label: str, source: str,
                now: Optional[float] = None) -> dict[str, Any]:
    """A fresh account record with a random id."""
    record = {"id": secrets.token_hex(4), "label": label.strip()[:80], "source": source,
              "added_at": time.time() if now is None else now, "disabled": False,
              # What Kimi sees as X-Msh-Device-Id where the token has no device_id claim
              # (kimi-protocol-2026.md B.1.2): made once and kept, as a browser keeps its own.
              "device_id": tokens.new_device_id()}
    return apply_tokens(record, credentials["access_token"], credentials["refresh_token"])


def env_account_id(token: str) -> str:
    """Accounts from KIMI_TOKEN get an id derived from the token, the same in every worker and restart."""
    return "env-" + hashlib.sha256(token.encode()).hexdigest()[:8]


def apply_tokens(record: dict[str, Any], access: Optional[str], refresh: Optional[str]) -> dict[str, Any]:
    """Put a new token pair on a record; a fresh pair clears an earlier rejection."""
    claims = tokens.read_claims(access) if access else None
    record.update(access_token=access, refresh_token=refresh or record.get("refresh_token"),
                  rejected=None, reimport=False, legacy=bool(access) and not tokens.is_access_jwt(claims))
    user = (claims or {}).get("sub") or (tokens.read_claims(refresh or "") or {}).get("sub")
    if user:
        record["user_id"] = user
    return record


def same_owner(record: dict[str, Any], credentials: dict[str, Optional[str]]) -> bool:
    """Whether pasted credentials belong to an account already saved (so saving replaces its tokens)."""
    pasted = [t for t in credentials.values() if t]
    users = {(tokens.read_claims(t) or {}).get("sub") for t in pasted} - {None}
    return bool(users and record.get("user_id") in users) or any(
        t in (record.get("access_token"), record.get("refresh_token")) for t in pasted)


def access_claims(record: dict[str, Any]) -> Optional[dict[str, Any]]:
    claims = tokens.read_claims(record.get("access_token") or "")
    return claims if tokens.is_access_jwt(claims) else None


def is_legacy(record: dict[str, Any]) -> bool:
    """An account of Kimi's legacy REST API: its refresh token is lent as is, and the legacy client
    exchanges it itself (docs/kimi-protocol.md B.1); the Connect refresh call does not apply to it."""
    return bool(record.get("legacy")) and bool(record.get("refresh_token")) and not access_claims(record)


def lent_token(record: dict[str, Any]) -> Optional[str]:
    """The token the pool lends for this account: a legacy account's refresh token (the router sends
    it to the legacy client, which exchanges it itself), else its access token."""
    return record.get("refresh_token") if is_legacy(record) else record.get("access_token")


def can_renew(record: dict[str, Any], now: Optional[float] = None) -> bool:
    refresh = record.get("refresh_token")
    if not refresh:
        return False
    claims = tokens.read_claims(refresh)
    return not (claims and tokens.is_expired(claims, now, leeway=0))


def needs_refresh(record: dict[str, Any], now: Optional[float] = None, ahead: float = RENEW_AHEAD) -> bool:
    """True when the access token is missing or due for renewal: `ahead` seconds before its own `exp`,
    or a third of its life before when it lives shorter (test tokens live seconds), but never later than
    the client's own leeway, past which it refuses the token unsent."""
    if not can_renew(record, now):
        return False
    claims = access_claims(record)
    if claims is None or not isinstance(claims.get("exp"), (int, float)):
        return claims is None
    lifetime = claims["exp"] - claims.get("iat", claims["exp"] - 3 * ahead)
    margin = max(EXPIRY_LEEWAY, min(ahead, lifetime / 3))
    return tokens.is_expired(claims, now, leeway=int(margin))


def can_lend_legacy(record: dict[str, Any]) -> bool:
    """Whether a refresh token Kimi's refresh call refused may still be a legacy REST token (B.1): one
    that never renewed here, came without an access token, and is no 2026 accounts-service JWT."""
    return not record.get("access_token") and not record.get("refreshed_at") \
        and not is_chain_refresh(record.get("refresh_token"))


def state_of(record: dict[str, Any], status: dict[str, Any], now: Optional[float] = None) -> str:
    """One of STATES: whether the pool may hand this account out, and if not, why."""
    now = time.time() if now is None else now
    if record.get("disabled"):
        return "disabled"
    if record.get("rejected"):
        return "reimport" if record.get("reimport") else "rejected"
    if status.get("circuit_open"):
        return "circuit"
    if is_legacy(record):
        return "legacy"  # served by the legacy REST path with its refresh token (kimi/router.py)
    claims = access_claims(record)
    if (claims is None or tokens.is_expired(claims, now, EXPIRY_LEEWAY)) and not can_renew(record, now):
        return "expired"
    if status.get("cooldown_until", 0) > now:
        return "cooling"
    return "active"


def view(record: dict[str, Any], status: dict[str, Any], now: Optional[float] = None) -> dict[str, Any]:
    """Everything the page and /auth/status show about an account: no token, only a short prefix."""
    now = time.time() if now is None else now
    claims = access_claims(record) or {}
    exp = claims.get("exp") if isinstance(claims.get("exp"), (int, float)) else None
    return {"id": record["id"], "label": record.get("label") or "", "source": record.get("source"),
            "user_id": record.get("user_id"), "state": state_of(record, status, now),
            "reason": record.get("rejected") or status.get("cooldown_reason") or "",
            "expires_at": iso(exp), "expires_in": int(exp - now) if exp else None, "exp": exp,
            "expires_soon": bool(exp) and exp - now < SOON_SECONDS,
            "can_renew": can_renew(record, now), "renewable_until": _refresh_expiry(record),
            "has_access_token": bool(record.get("access_token")),
            "token_prefix": short_prefix(record.get("access_token") or record.get("refresh_token")),
            "cooldown_until": iso(status.get("cooldown_until")) if status.get("cooldown_until", 0) > now else None,
            "last_used": iso(status.get("last_used")), "last_error": status.get("last_error") or "",
            "last_error_at": iso(status.get("last_error_at")), "added_at": iso(record.get("added_at")),
            "health": policies.health(status, now), "policy": dict(record.get("policy") or {})}


def _refresh_expiry(record: dict[str, Any]) -> Optional[str]:
    """When the chain dies unless renewed before: its refresh token's `exp` (None when it has none)."""
    return iso((tokens.read_claims(record.get("refresh_token") or "") or {}).get("exp"))
