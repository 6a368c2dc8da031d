"""Which Kimi token serves a request: the caller's own, or the server's behind a proxy API key.

A caller's own kimi-auth token (a JWT) is always used as given. The server-side tokens
(KIMI_TOKEN) are lent only to callers presenting one of the API_KEYS, or, while no key is
configured, to callers on this machine: a deployment must never become an open relay.
"""
from __future__ import annotations

import hmac
import ipaddress
import random
from typing import Optional

from kimi import tokens
from kimi.errors import AuthRejected

NO_TOKEN_MESSAGE = ("No Kimi token. Send your kimi-auth token (the `kimi-auth` cookie of www.kimi.com) "
                    "as the API key, or configure KIMI_TOKEN on the server and use one of its API_KEYS.")
KEY_REQUIRED_MESSAGE = ("This server lends its Kimi account only to callers with a valid proxy API key. "
                        "Send a key from API_KEYS as the API key, or send your own kimi-auth token.")


def choose_token(credential: Optional[str], remote_addr: Optional[str], settings: dict) -> str:
    """The Kimi token for this request; AuthRejected (401) when there is none it may use."""
    presented = tokens.split_tokens(credential or "")
    own = [t for t in presented if tokens.read_claims(t) is not None]
    if own:
        return random.choice(own)  # several comma-separated tokens: spread the load
    server_tokens = tokens.split_tokens(settings.get("kimi_token") or "")
    if not server_tokens:
        raise AuthRejected(NO_TOKEN_MESSAGE, code="missing_token")
    if not _may_borrow(credential, remote_addr, settings):
        raise AuthRejected(KEY_REQUIRED_MESSAGE, code="invalid_api_key")
    return random.choice(server_tokens)


def _may_borrow(credential: Optional[str], remote_addr: Optional[str], settings: dict) -> bool:
    keys = tokens.split_tokens(settings.get("api_keys") or "")
    if keys:
        given = (credential or "").strip()
        return any(hmac.compare_digest(given.encode(), key.encode()) for key in keys)
    return _is_loopback(remote_addr)


def _is_loopback(remote_addr: Optional[str]) -> bool:
    try:
        return ipaddress.ip_address(remote_addr or "").is_loopback
    except ValueError:
        return False


def bearer(authorization: Optional[str]) -> Optional[str]:
    """The credential of an `Authorization: Bearer …` header."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None
