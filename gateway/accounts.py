"""Saved Kimi accounts as plain records: reading what an owner pasted, telling an account's state,
and the token-free view of one that pages, /auth/status and /health show. Pure: no I/O here.

An account holds a kimi-auth access JWT, a refresh token, or both (docs/kimi-protocol.md A.2, B.1).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime, timezone
from typing import Any, Optional

from kimi import tokens
from kimi.errors import BadRequest

# The client refuses a token this close to its expiry (tokens.is_expired's leeway), so the pool does too.
EXPIRY_LEEWAY = 30
# States, in the order the page explains them.
STATES = ("active", "expired", "rejected", "cooling", "disabled", "legacy")
MAX_TOKEN_LENGTH = 8192
SOON_SECONDS = 24 * 3600  # an access token with less left than this is flagged on the page and in /health


def read_credentials(cookies: Optional[str], refresh_token: Optional[str],
                     now: Optional[float] = None) -> dict[str, Optional[str]]:
    """{"access_token", "refresh_token"} from a pasted Cookie header / kimi-auth= / bare JWT and an
    optional refresh token; BadRequest (with a message for the owner) when nothing usable is there."""
    pasted = tokens.extract_token(cookies or "")
    refresh = tokens.extract_token(refresh_token or "") or None
    access: Optional[str] = None
    if pasted and tokens.is_access_jwt(tokens.read_claims(pasted)):
        access = pasted
    elif pasted and refresh:
        raise BadRequest("The first field holds no kimi-auth access token, and a refresh token was given "
                         "separately. Paste the `kimi-auth` cookie (it starts with eyJ).", param="cookies",
                         code="not_an_access_token")
    elif pasted:
        refresh = pasted  # anything but an access JWT is a legacy refresh token (A.2)
    for name, value in (("cookies", access), ("refresh_token", refresh)):
        if value and (len(value) > MAX_TOKEN_LENGTH or not value.isprintable() or " " in value):
            raise BadRequest("That does not look like a Kimi token.", param=name, code="not_a_token")
    if not access and not refresh:
        raise BadRequest("Paste the `kimi-auth` cookie, a Cookie header containing it, or a refresh token.",
                         param="cookies", code="no_token")
    now = time.time() if now is None else now
    refresh_claims = tokens.read_claims(refresh) if refresh else None
    if refresh_claims and tokens.is_expired(refresh_claims, now, leeway=0):
        raise BadRequest(f"This refresh token expired on {_iso(refresh_claims['exp'])}. Log in to www.kimi.com "
                         "again and copy a fresh one.", param="refresh_token", code="token_expired")
    if access and not refresh and tokens.is_expired(tokens.read_claims(access), now, EXPIRY_LEEWAY):
        exp = tokens.read_claims(access)["exp"]
        raise BadRequest(f"This kimi-auth token expired on {_iso(exp)}. Log in to www.kimi.com again and copy "
                         "a fresh one (or add the refresh token so the server can renew it).",
                         param="cookies", code="token_expired")
    return {"access_token": access, "refresh_token": refresh}


def describe_token(token: str, now: Optional[float] = None) -> dict[str, Any]:
    """What a token says about itself, for showing before saving (never the token)."""
    claims = tokens.read_claims(token) or {}
    kind = "access" if tokens.is_access_jwt(claims) else ("refresh" if claims.get("typ") == "refresh" else "other")
    now = time.time() if now is None else now
    exp = claims.get("exp") if isinstance(claims.get("exp"), (int, float)) else None
    membership = claims.get("membership") if isinstance(claims.get("membership"), dict) else {}
    return {"kind": kind, "is_jwt": bool(claims), "user_id": claims.get("sub"), "region": claims.get("region"),
            "membership_level": membership.get("level"),
            "issued_at": _iso(claims.get("iat")), "expires_at": _iso(exp),
            "hours_left": round((exp - now) / 3600, 2) if exp else None,
            "expired": bool(exp) and tokens.is_expired(claims, now, leeway=0),
            "prefix": short_prefix(token)}


def short_prefix(token: Optional[str]) -> str:
    """The most of a token that any page or log may show."""
    return f"{token[:6]}…" if token else ""


def new_account(credentials: dict[str, Optional[str]], label: str, source: str,
                now: Optional[float] = None) -> dict[str, Any]:
    """A fresh account record with a random id."""
    record = {"id": secrets.token_hex(4), "label": label.strip()[:80], "source": source,
              "added_at": time.time() if now is None else now, "disabled": False}
    return apply_tokens(record, credentials["access_token"], credentials["refresh_token"])


def env_account_id(token: str) -> str:
    """Accounts from KIMI_TOKEN get an id derived from the token, the same in every worker and restart."""
    return "env-" + hashlib.sha256(token.encode()).hexdigest()[:8]


def apply_tokens(record: dict[str, Any], access: Optional[str], refresh: Optional[str]) -> dict[str, Any]:
    """Put a new token pair on a record; a fresh pair clears an earlier rejection."""
    claims = tokens.read_claims(access) if access else None
    record.update(access_token=access, refresh_token=refresh or record.get("refresh_token"),
                  rejected=None, legacy=bool(access) and not tokens.is_access_jwt(claims))
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


def needs_refresh(record: dict[str, Any], now: Optional[float] = None) -> bool:
    """True when the access token is missing or close enough to its own `exp` to renew it first.

    Lifetimes vary (minutes to a month, A.2), so the margin is a tenth of this token's lifetime,
    at most five minutes, on top of the leeway the client applies."""
    if not can_renew(record, now):
        return False
    claims = access_claims(record)
    if claims is None or not isinstance(claims.get("exp"), (int, float)):
        return claims is None
    lifetime = claims["exp"] - claims.get("iat", claims["exp"] - 3000)
    margin = EXPIRY_LEEWAY + min(300, max(lifetime, 0) / 10)
    return tokens.is_expired(claims, now, leeway=int(margin))


def state_of(record: dict[str, Any], status: dict[str, Any], now: Optional[float] = None) -> str:
    """One of STATES: whether the pool may hand this account out, and if not, why."""
    now = time.time() if now is None else now
    if record.get("disabled"):
        return "disabled"
    if record.get("rejected"):
        return "rejected"
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
            "expires_at": _iso(exp), "expires_in": int(exp - now) if exp else None, "exp": exp,
            "expires_soon": bool(exp) and exp - now < SOON_SECONDS,
            "can_renew": can_renew(record, now), "has_access_token": bool(record.get("access_token")),
            "token_prefix": short_prefix(record.get("access_token") or record.get("refresh_token")),
            "cooldown_until": _iso(status.get("cooldown_until")) if status.get("cooldown_until", 0) > now else None,
            "last_used": _iso(status.get("last_used")), "last_error": status.get("last_error") or "",
            "last_error_at": _iso(status.get("last_error_at")), "added_at": _iso(record.get("added_at"))}


def _iso(seconds: Any) -> Optional[str]:
    if not isinstance(seconds, (int, float)):
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
