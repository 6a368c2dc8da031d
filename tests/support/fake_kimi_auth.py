"""Fake Kimi account service on 127.0.0.1: the 2026 RefreshToken RPC and the old GET refresh call
(docs/kimi-protocol.md A.2, D.1) issuing short-lived access JWTs and rotating refresh tokens, GET /api/user
and the GetSubscription probe.

A separate tiny server (on fake_server.py's base) beside fake_kimi.py (whose Chat endpoint
judges tokens only by its `rejected_tokens`); tests point KIMI_AUTH_BASE_URL, KIMI_REFRESH_URL and
KIMI_PROBE_URL here (call_urls()).
"""
import json
import time
import uuid

import jwt

from tests.support.fake_server import FakeHandler, FakeServer
from tests.support.jwts import make_jwt

REFRESH_PATH = "/api/auth/token/refresh"
RPC_REFRESH_PATH = "/api/account.gateway.v1.AuthService/RefreshToken"
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
        body = self._drain()
        if self.path == PROBE_PATH:
            self._reply(*self.fake._whoami(self._bearer(), lambda sub: {"subscription": {"userId": sub}}))
        elif self.path == RPC_REFRESH_PATH and self.fake.rpc_enabled:
            self._reply(*self.fake._refresh_rpc(body, self.headers))
        else:
            self._reply(404, {"code": "not_found"})

    def _drain(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

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
            self.refresh_calls = []  # the refresh tokens presented, in order, on either call
            self.rpc_calls = []  # (body, Authorization header) of each RefreshToken call
            self.issued = []  # (access, refresh) pairs handed out
            self.rpc_enabled = True  # False: the host knows only the old GET (the RPC answers 404)
            self.answer_style = "camel"  # how the RPC spells its answer: camel, snake or data (a wrapper)
            self.reject_status = 401  # what the RPC answers for a void refresh token (Kimi: 401 or 403)

    def call_urls(self):
        """The AccountCalls URLs that aim at this fake."""
        return {"refresh_url": self.url + RPC_REFRESH_PATH, "legacy_refresh_url": self.url + REFRESH_PATH,
                "probe_url": self.url + PROBE_PATH}

    def issue_refresh(self, sub="refreshuser000000001", iss="user-center"):
        """A new valid refresh token (a JWT with typ "refresh", as Kimi's are) for user `sub`; 2026 chains
        carry iss "account" (D.1)."""
        token = make_jwt(sub=sub, typ="refresh", expires_in=90 * 24 * 3600, jti=uuid.uuid4().hex, iss=iss)
        with self._lock:
            self.valid_refresh[token] = sub
        return token

    def issue_pair(self, sub="chainuser00000000001", access_ttl=None):
        """A 2026 login: (access, refresh) as the browser keeps them in localStorage."""
        access = make_jwt(sub=sub, expires_in=access_ttl or self.access_ttl, iss="account", jti=uuid.uuid4().hex)
        return access, self.issue_refresh(sub, iss="account")

    def rotate_elsewhere(self, token):
        """Another holder of the chain (the browser) refreshes `token`: it is void here from now on."""
        with self._lock:
            sub = self.valid_refresh.pop(token)
        return self.issue_refresh(sub, iss="account")

    # Called from handler threads.

    def _refresh(self, token, iss="user-center"):
        with self._lock:
            self.refresh_calls.append(token)
            sub = self.valid_refresh.pop(token, None)  # single use: the presented token is void from now on
            ttl, delay = self.access_ttl, self.refresh_delay
        if sub is None:
            return 401, {"error_type": "auth.token.invalid", "message": "refresh token is invalid"}
        time.sleep(delay)
        access = make_jwt(sub=sub, expires_in=ttl, jti=uuid.uuid4().hex, iss=iss)
        refresh = self.issue_refresh(sub, iss=iss)
        with self._lock:
            self.issued.append((access, refresh))
        return 200, {"access_token": access, "refresh_token": refresh}

    def _refresh_rpc(self, raw, headers):
        """RefreshToken: the token in the body (either spelling), a camelCase answer, a Connect error."""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, {"code": "invalid_argument", "message": "body is not JSON"}
        with self._lock:
            self.rpc_calls.append((body, headers.get("Authorization")))
        token = body.get("refresh_token") or body.get("refreshToken") or ""
        status, answer = self._refresh(token, iss="account")
        if status != 200:
            return self.reject_status, {"code": "unauthenticated", "message": "invalid claims"}
        pair = {"accessToken": answer["access_token"], "refreshToken": answer["refresh_token"]}
        if self.answer_style == "snake":
            return 200, answer
        return 200, {"data": pair} if self.answer_style == "data" else pair

    def _whoami(self, token, answer):
        try:
            claims = jwt.decode(token, options={"verify_signature": False})  # checks exp
        except jwt.PyJWTError:
            return 401, {"code": "unauthenticated"}
        if claims.get("typ") != "access" or token in self.revoked_access:
            return 401, {"code": "unauthenticated"}
        return 200, answer(claims["sub"])
