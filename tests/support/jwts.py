"""Test kimi-auth tokens: real JWTs with the claims Kimi puts in them, signed with a test key."""
from __future__ import annotations

import time

import jwt


def make_jwt(sub: str = "testuser0000000000001", typ: str = "access", expires_in: int = 3600,
             **claims) -> str:
    """A claim given as None is left out (`device_id=None`: a 2026 token without one)."""
    now = int(time.time())
    payload = {"iss": "user-center", "typ": typ, "app_id": "kimi", "sub": sub,
               "ssid": "1730000000000000001", "device_id": "7430000000000000002",
               "region": "overseas", "membership": {"level": 10},
               "iat": now, "exp": now + expires_in, **claims}
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, "test-signing-key-not-kimis-" + "0123456789abcdef" * 3, algorithm="HS512")
