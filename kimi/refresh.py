"""Kimi's account calls: renewing a token pair with a refresh token (docs/kimi-protocol.md A.2, D.1) and
probing whether an access token is live (GetSubscription, A.1). Every URL comes from settings through
kimi.transport.Endpoints, since Kimi moves them (C.11) and www.kimi.ai / auth.kimi.ai serve the same calls.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import requests

from kimi import errors, tokens, transport
from kimi.transport import Endpoints

log = logging.getLogger(__name__)

_FAULTS = transport.calling("Kimi's account service")


class AccountCalls:
    def __init__(self, *, endpoints: Endpoints, connect_timeout: float = 10, read_timeout: float = 20,
                 session: Optional[requests.Session] = None):
        self.refresh_url = endpoints.refresh_url  # AuthService/RefreshToken on the auth host (D.1)
        self.legacy_refresh_url = endpoints.legacy_refresh_url  # GET /api/auth/token/refresh, tried only on a 404
        self.probe_url = endpoints.probe_url
        self.timeout = (connect_timeout, read_timeout)
        self.session = session or transport.shared_session()
        self._headers = {"Accept": "application/json", **transport.browser_headers(endpoints.web_origin),
                         "Connect-Protocol-Version": "1"}

    def refresh(self, refresh_token: str) -> tuple[str, Optional[str]]:
        """(new access token, rotated refresh token or None); AuthRejected when Kimi refuses the
        refresh token, UpstreamUnavailable/UpstreamTimeout when it could not be asked.

        The RefreshToken RPC carries the token in its body, not in a header (D.1). Only a host that does
        not know the RPC (HTTP 404) is asked the legacy GET, so a refused chain is never asked twice."""
        response = self._call("POST", self.refresh_url, None, json={"refresh_token": refresh_token})
        if response.status_code == 404 and self.legacy_refresh_url:
            response.close()
            log.info("the refresh RPC is unknown on this host (HTTP 404); trying the legacy GET")
            response = self._call("GET", self.legacy_refresh_url, refresh_token)
        with response:
            if response.status_code in (401, 403):
                raise errors.AuthRejected(f"Kimi refused the refresh token (HTTP {response.status_code}"
                                          f"{_excerpt(response)}).", code="refresh_rejected")
            if response.status_code != 200:
                raise errors.UpstreamUnavailable(f"Kimi's refresh call answered HTTP {response.status_code}.",
                                                 code="refresh_failed")
            pair = _token_pair(response)
        if not pair[0]:
            raise errors.AuthRejected("Kimi's refresh call returned no access token.", code="refresh_rejected")
        return pair

    def probe(self, access_token: str) -> bool:
        """Whether Kimi accepts the access token right now (UpstreamUnavailable when it cannot tell)."""
        response = self._call("POST", self.probe_url, access_token, json={})
        with response:
            if response.status_code == 200:
                return True
            if response.status_code in (401, 403):
                return False
            raise errors.UpstreamUnavailable(f"Kimi's account check answered HTTP {response.status_code}.",
                                             code="probe_failed")

    def _call(self, method: str, url: str, token: Optional[str], **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **self._headers} if token else self._headers
        with _FAULTS:
            return self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)


def _token_pair(response: requests.Response) -> tuple[Optional[str], Optional[str]]:
    try:
        return tokens.token_pair(response.json())
    except ValueError:
        return None, None


def _excerpt(response: requests.Response) -> str:
    """Kimi's own words for a refusal: a Connect error's `message` (D.1), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = body.get("message") if isinstance(body, dict) and isinstance(body.get("message"), str) else response.text
    text = " ".join(text.split())[:160]
    return f": {text}" if text else ""
