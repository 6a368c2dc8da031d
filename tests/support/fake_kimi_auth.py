"""Fake Kimi account service on 127.0.0.1: the refresh call (docs/kimi-protocol.md A.2) issuing short-lived
access JWTs and rotating refresh tokens, GET /api/user and the GetSubscription probe.

A separate tiny server (on fake_server.py's base) beside fake_kimi.py (whose Chat endpoint
judges tokens only by its `rejected_tokens`); tests point KIMI_REFRESH_URL and KIMI_PROBE_URL here.
"""
import json
import time
import uuid

import jwt

from tests.support.fake_server import FakeHandler, FakeServer
from tests.support.jwts import make_jwt

REFRESH_PATH = "/api/auth/token/refresh"
USER_PATH = "/api/user"
PROBE_PATH = "/apiv2/kimi.gateway.order.v1.SubscriptionService/GetSubscription"


class _Handler(FakeHandler):
    def do_GET(self):
        self._drain()
        if self.path == REFRESH_PATH:
            self._reply(*self.fake._refresh(self._bearer()))
        elif self.path == USER_PATH:
            self._reply(*self.fake._whoami(self._bearer(), lambda sub: {"id": sub}))
        else:
            self._reply(404, {"code": "not_found"})

    def do_POST(self):
        self._drain()
        if self.path == PROBE_PATH:
            self._reply(*self.fake._whoami(self._bearer(), lambda sub: {"subscription": {"userId": sub}}))
        else:
            self._reply(404, {"code": "not_found"})

    def _drain(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _bearer(self):
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else ""

    def _reply(self, status, body):
        self._send_body(status, json.dumps(body).encode())


class FakeKimiAuth(FakeServer):
    """Refresh tokens are single-use: each refresh voids the one presented and hands out a new pair."""

    handler_class = _Handler

    def reset(self):
        with self._lock:
            self.access_ttl = 3600  # seconds each issued access token lives
            self.refresh_delay = 0.0  # seconds a refresh takes (to hold concurrent callers together)
            self.valid_refresh = {}  # refresh token -> user id
            self.revoked_access = set()
            self.refresh_calls = []  # the refresh tokens presented, in order
            self.issued = []  # (access, refresh) pairs handed out

    def issue_refresh(self, sub="refreshuser000000001"):
        """A new valid refresh token (a JWT with typ "refresh", as Kimi's are) for user `sub`."""
        token = make_jwt(sub=sub, typ="refresh", expires_in=90 * 24 * 3600, jti=uuid.uuid4().hex)
        with self._lock:
            self.valid_refresh[token] = sub
        return token

    # Called from handler threads.

    def _refresh(self, token):
        with self._lock:
            self.refresh_calls.append(token)
            sub = self.valid_refresh.pop(token, None)  # single use: the presented token is void from now on
            ttl, delay = self.access_ttl, self.refresh_delay
        if sub is None:
            return 401, {"error_type": "auth.token.invalid", "message": "refresh token is invalid"}
        time.sleep(delay)
        access = make_jwt(sub=sub, expires_in=ttl, jti=uuid.uuid4().hex)
        refresh = self.issue_refresh(sub)
        with self._lock:
            self.issued.append((access, refresh))
        return 200, {"access_token": access, "refresh_token": refresh}

    def _whoami(self, token, answer):
        try:
            claims = jwt.decode(token, options={"verify_signature": False})  # checks exp
        except jwt.PyJWTError:
            return 401, {"code": "unauthenticated"}
        if claims.get("typ") != "access" or token in self.revoked_access:
            return 401, {"code": "unauthenticated"}
        return 200, answer(claims["sub"])
