"""Reading what an owner pasted to save a Kimi account, and saying what it is before it is saved.
Pure: no I/O here.

Accepted (docs/kimi-protocol.md D.1): the JSON the /auth page's console snippet prints
(`{"access_token", "refresh_token"}`, either spelling), the two localStorage values in two fields, a
refresh token alone, a bare access JWT, and the old `kimi-auth` cookie or a whole `Cookie:` header.
Which token is which is read from its claims (`typ`), not from the field it came in.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, Optional

from kimi import tokens
from kimi.errors import BadRequest

# The client refuses a token this close to its expiry (tokens.is_expired's leeway), so saving does too.
EXPIRY_LEEWAY = 30
MAX_TOKEN_LENGTH = 8192
# Issuers of the accounts service since mid-2026 (D.1); the old site's tokens say "user-center".
CHAIN_ISSUERS = ("account", "account-nt")
HOW_TO_COPY = ("On www.kimi.com open DevTools → Application → Local Storage → https://www.kimi.com and copy "
               "`access_token` and `refresh_token` (or run the console snippet shown on /auth).")


def read_credentials(cookies: Optional[str], refresh_token: Optional[str],
                     now: Optional[float] = None) -> dict[str, Optional[str]]:
    """{"access_token", "refresh_token"} from the pasted text and the optional second field;
    BadRequest (with a message for the owner) when nothing usable is there."""
    access, refresh = _sort_tokens(_pasted_tokens(cookies or "") + _pasted_tokens(refresh_token or ""))
    for name, value in (("cookies", access), ("refresh_token", refresh)):
        if value and (len(value) > MAX_TOKEN_LENGTH or not value.isprintable() or " " in value):
            raise BadRequest("That does not look like a Kimi token.", param=name, code="not_a_token")
    if not access and not refresh:
        raise BadRequest(f"Nothing to save. {HOW_TO_COPY} An old `kimi-auth` cookie or Cookie header works too.",
                         param="cookies", code="no_token")
    now = time.time() if now is None else now
    refresh_claims = tokens.read_claims(refresh) if refresh else None
    if refresh_claims and tokens.is_expired(refresh_claims, now, leeway=0):
        raise BadRequest(f"This refresh token expired on {iso(refresh_claims['exp'])}. Log in to www.kimi.com "
                         f"again, then: {HOW_TO_COPY}", param="refresh_token", code="token_expired")
    if access and not refresh and tokens.is_expired(tokens.read_claims(access), now, EXPIRY_LEEWAY):
        exp = tokens.read_claims(access)["exp"]
        raise BadRequest(f"This access token expired on {iso(exp)}. Add the `refresh_token` so the server can "
                         f"renew it: {HOW_TO_COPY}", param="cookies", code="token_expired")
    return {"access_token": access, "refresh_token": refresh}


def describe_credentials(cookies: Optional[str], refresh_token: Optional[str] = None,
                         now: Optional[float] = None) -> dict[str, Any]:
    """What the pasted text is, for showing before saving (never a token): its kind, the user, when the
    access token expires and whether the account can renew itself. BadRequest as read_credentials."""
    now = time.time() if now is None else now
    credentials = read_credentials(cookies, refresh_token, now)
    access, refresh = credentials["access_token"], credentials["refresh_token"]
    info = describe_token(access or refresh, now)
    refresh_claims = tokens.read_claims(refresh or "") or {}
    return {**info, "kind": kind_of(credentials, is_cookie="kimi-auth=" in (cookies or "")),
            "user_id": info["user_id"] or refresh_claims.get("sub"), "can_renew": bool(refresh),
            "renewable_until": iso(refresh_claims.get("exp"))}


def kind_of(credentials: dict[str, Optional[str]], is_cookie: bool = False) -> str:
    """pair, refresh, legacy_refresh, access or cookie: what was pasted, in the page's words."""
    access, refresh = credentials["access_token"], credentials["refresh_token"]
    if access and refresh:
        return "pair"
    if refresh:
        return "refresh" if is_chain_refresh(refresh) else "legacy_refresh"
    issuer = (tokens.read_claims(access or "") or {}).get("iss")
    return "cookie" if is_cookie or issuer not in CHAIN_ISSUERS else "access"


def is_chain_refresh(token: Optional[str]) -> bool:
    """A refresh JWT of the 2026 accounts service: renewed only through RefreshToken, never the legacy path."""
    claims = tokens.read_claims(token or "") or {}
    return claims.get("typ") == "refresh" and claims.get("iss") in CHAIN_ISSUERS


def describe_token(token: str, now: Optional[float] = None) -> dict[str, Any]:
    """What one token says about itself (never the token)."""
    claims = tokens.read_claims(token) or {}
    kind = "access" if tokens.is_access_jwt(claims) else ("refresh" if claims.get("typ") == "refresh" else "other")
    now = time.time() if now is None else now
    exp = claims.get("exp") if isinstance(claims.get("exp"), (int, float)) else None
    membership = claims.get("membership") if isinstance(claims.get("membership"), dict) else {}
    return {"kind": kind, "is_jwt": bool(claims), "user_id": claims.get("sub"), "region": claims.get("region"),
            "membership_level": membership.get("level"),
            "issued_at": iso(claims.get("iat")), "expires_at": iso(exp),
            "hours_left": round((exp - now) / 3600, 2) if exp else None,
            "expired": bool(exp) and tokens.is_expired(claims, now, leeway=0),
            "prefix": short_prefix(token)}


def short_prefix(token: Optional[str]) -> str:
    """The most of a token that any page or log may show."""
    return f"{token[:6]}…" if token else ""


def iso(seconds: Any) -> Optional[str]:
    if not isinstance(seconds, (int, float)):
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _pasted_tokens(text: str) -> list[str]:
    """The tokens in one pasted field: both from the snippet's JSON, else the one bare token."""
    text = text.strip()
    if text.startswith("{"):
        try:
            body = json.loads(text)
        except ValueError:
            raise BadRequest("That JSON is cut or malformed; copy the snippet's whole output line.",
                             param="cookies", code="not_json") from None
        pair = tokens.token_pair(body)
        return [_unquote(t) for t in pair if t]
    token = _unquote(tokens.extract_token(text))
    return [token] if token else []


def _unquote(token: str) -> str:
    # localStorage values are sometimes JSON-encoded strings (D.1): "\"eyJ…\"" is the same token.
    return token.strip().strip('"').strip()


def _sort_tokens(pasted: list[str]) -> tuple[Optional[str], Optional[str]]:
    """(access, refresh) by each token's claims; BadRequest when two of one kind were pasted."""
    access = [t for t in pasted if tokens.is_access_jwt(tokens.read_claims(t))]
    refresh = [t for t in pasted if t not in access]  # anything else is some refresh token (A.2)
    if len(set(access)) > 1:
        raise BadRequest("Two access tokens were pasted; give one access token and its refresh token.",
                         param="cookies", code="two_access_tokens")
    if len(set(refresh)) > 1:
        raise BadRequest("Neither field holds an access token, and a refresh token was given separately. "
                         "Paste the `access_token` (it starts with eyJ) in the first field.", param="cookies",
                         code="not_an_access_token")
    return (access[0] if access else None), (refresh[0] if refresh else None)
