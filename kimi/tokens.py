"""Kimi tokens: recognising a kimi-auth access JWT and reading its claims (never verifying them).

See docs/kimi-protocol.md A.2: clients only base64url-decode the payload; the signature key is Kimi's.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

import jwt

_COOKIE_TOKEN = re.compile(r"(?:^|[;\s])kimi-auth=([^;\s]+)")


def extract_token(text: str) -> str:
    """The bare token from a pasted `Bearer …`, Cookie header or `kimi-auth=` cookie."""
    text = text.strip()
    match = _COOKIE_TOKEN.search(text)
    if match:
        return match.group(1)
    if text.lower().startswith("bearer "):
        return text[7:].strip()
    return text


def read_claims(token: str) -> Optional[dict[str, Any]]:
    """The JWT payload, or None when the token is not a JWT. Callers must not change it: the same
    tokens come back on every request, so decoded payloads are cached."""
    if not token.startswith("eyJ") or token.count(".") != 2:
        return None
    return _decode(token)


@lru_cache(maxsize=4096)
def _decode(token: str) -> Optional[dict[str, Any]]:
    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


@dataclass(frozen=True)
class Credential:
    """A Kimi token read once: its claims (None when it is not a JWT) and which way into Kimi it
    opens. The one place the Connect-or-legacy choice is made (docs/kimi-protocol.md A.2): a kimi-auth
    access JWT, expired or not (the Connect client explains an expired one), takes the Connect path;
    anything else (a refresh token of kimi.moonshot.cn) the legacy REST path."""

    token: str
    claims: Optional[dict[str, Any]]
    saved_device_id: Optional[str] = None  # the device id saved with the token's account, if any

    @property
    def is_connect(self) -> bool:
        return is_access_jwt(self.claims)

    @property
    def device_id(self) -> Optional[str]:
        """The X-Msh-Device-Id its calls carry: see device_id_of."""
        return device_id_of(self.claims or {}, self.saved_device_id)

    @property
    def name(self) -> str:
        """A log-safe name: the user id when the token has one, else a short prefix."""
        if self.claims and self.claims.get("sub"):
            return f"user:{self.claims['sub']}"
        return f"token:{self.token[:6]}…"


def credential(token: str, saved_device_id: Optional[str] = None) -> Credential:
    return Credential(token, read_claims(token), saved_device_id)


def new_device_id() -> str:
    """A random 19-digit number, the shape of the device id Kimi's web page makes for itself (B.1.4)."""
    return str(secrets.randbelow(9 * 10 ** 18) + 10 ** 18)


def device_id_of(claims: dict[str, Any], saved: Optional[str] = None) -> Optional[str]:
    """The device id a token's calls carry, the same on every call: the token's own `device_id` claim;
    else the one saved with its account; else one derived from its user (`sub`), so a caller's own token
    without the claim (kimi-protocol-2026.md B.1.2: some new access tokens have none) keeps one id
    without anything stored. None when the token names no user either."""
    if claims.get("device_id"):
        return str(claims["device_id"])
    if saved:
        return saved
    if claims.get("sub"):
        digest = hashlib.sha256(f"kimi-device:{claims['sub']}".encode()).digest()
        return str(int.from_bytes(digest[:8], "big") % (9 * 10 ** 18) + 10 ** 18)
    return None


def is_access_jwt(claims: Optional[dict[str, Any]]) -> bool:
    """A kimi-auth access token, as opposed to a refresh token or anything else."""
    return bool(claims) and claims.get("app_id") == "kimi" and claims.get("typ") == "access"


def is_expired(claims: dict[str, Any], now: Optional[float] = None, leeway: int = 30) -> bool:
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        return False  # no expiry claim: let Kimi decide
    return (now if now is not None else time.time()) + leeway >= exp


def split_tokens(value: str) -> list[str]:
    """Tokens from a comma-separated list, each cleaned of Bearer/cookie wrapping."""
    return [extract_token(part) for part in value.split(",") if part.strip()]


def describe(token: str) -> str:
    """A log-safe name for a token: its user id when it has one, else a short prefix."""
    return credential(token).name


def token_pair(body: Any) -> tuple[Optional[str], Optional[str]]:
    """(access token, refresh token) from the JSON body of Kimi's refresh call, each None when absent.
    Most clients read access_token/refresh_token; some look for camelCase or a `data` wrapper (C.11)."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body = body["data"]
    if not isinstance(body, dict):
        return None, None
    access = body.get("access_token") or body.get("accessToken")
    refresh = body.get("refresh_token") or body.get("refreshToken")
    return (access if isinstance(access, str) else None), (refresh if isinstance(refresh, str) else None)
