"""Kimi tokens: recognising a kimi-auth access JWT and reading its claims (never verifying them).

See docs/kimi-protocol.md A.2: clients only base64url-decode the payload; the signature key is Kimi's.
"""
from __future__ import annotations

import re
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

    @property
    def is_connect(self) -> bool:
        return is_access_jwt(self.claims)

    @property
    def name(self) -> str:
        """A log-safe name: the user id when the token has one, else a short prefix."""
        if self.claims and self.claims.get("sub"):
            return f"user:{self.claims['sub']}"
        return f"token:{self.token[:6]}…"


def credential(token: str) -> Credential:
    return Credential(token, read_claims(token))


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
