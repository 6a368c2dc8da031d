"""HTTP to Kimi's legacy REST API (docs/kimi-protocol.md B.1, B.5): the browser-like headers, timeouts,
and the one place where `requests` failures and `error_type` bodies become KimiErrors.
"""
from __future__ import annotations

import http.client
import json
import logging
import secrets
import socket
from typing import Any, Optional

import requests
import urllib3.exceptions

from kimi import errors
from kimi.legacy.parse import from_error_type
from kimi.sessions import shared_session
from kimi.stall import Watched

log = logging.getLogger(__name__)

USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36")
# B.1: random 19-digit numbers, generated once per process like a browser tab keeps them.
DEVICE_ID = str(secrets.randbelow(9 * 10 ** 18) + 10 ** 18)
SESSION_ID = str(secrets.randbelow(9 * 10 ** 18) + 10 ** 18)
TIMEOUTS = (requests.Timeout, urllib3.exceptions.TimeoutError, socket.timeout, TimeoutError)
CONNECTION_FAULTS = (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class Transport:
    """One per LegacyClient: the session, the base URL and the timeouts every call uses."""

    def __init__(self, *, base_url: str, connect_timeout: float = 10, read_timeout: float = 120,
                 session: Optional[requests.Session] = None):
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.timeout = (connect_timeout, read_timeout)
        self.session = session or shared_session()

    def headers(self, bearer: str, user_id: str = "", referer_path: str = "/") -> dict[str, str]:
        """The headers Kimi's web client sends (B.1); the analytics cookie is left out (decoration)."""
        headers = {
            "Authorization": f"Bearer {bearer}",
            "Accept": "application/json, text/plain, */*",
            "Accept-Encoding": "identity",  # each SSE event is readable the moment it arrives
            "Origin": self.base_url,
            "Referer": self.base_url + referer_path,
            "User-Agent": USER_AGENT,
            "X-Msh-Platform": "web",
            "X-Msh-Device-Id": DEVICE_ID,
            "X-Msh-Session-Id": SESSION_ID,
            "R-Timezone": "Asia/Shanghai",
        }
        if user_id:
            headers["X-Traffic-Id"] = user_id
        return headers

    def send(self, method: str, path: str, headers: dict[str, str], *, timeout: Any = None,
             **kwargs: Any) -> requests.Response:
        """The response of a 2xx answer, its body not yet read (the caller closes it); every other
        outcome raises a KimiError."""
        try:
            # Always streamed, so an error body is read only up to an excerpt's length.
            response = self.session.request(method, self.base_url + path, headers=headers, stream=True,
                                            timeout=timeout or self.timeout, **kwargs)
        except TIMEOUTS:
            raise errors.UpstreamTimeout("Kimi did not answer in time.", code="upstream_timeout") from None
        except CONNECTION_FAULTS as exc:
            log.warning("cannot reach Kimi's legacy API: %s", type(exc).__name__)
            raise errors.UpstreamUnavailable("Kimi could not be reached.", code="upstream_unreachable") from None
        if not 200 <= response.status_code < 300:
            with response:
                raise error_from_response(response)
        return response

    def call_json(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        """The JSON body of a 2xx answer; a body carrying `error_type` is a failure too (B.5)."""
        with self.send(method, path, headers, **kwargs) as response:
            try:
                body = response.json()
            except (ValueError, *TIMEOUTS, *CONNECTION_FAULTS):
                raise errors.ProtocolError(f"Kimi's {path} answer is not JSON.", code="bad_json") from None
        raise_for_error_type(body)
        return body


def read_chunks(response: requests.Response, size: int = 64 * 1024, watched: Optional[Watched] = None):
    """Bytes as they arrive (read1 returns what is there instead of waiting to fill `size`);
    TIMEOUTS and CONNECTION_FAULTS pass through for the caller to name. `watched` (kimi/stall.py)
    counts the start and end of each read for a stall watch; a body its watch cut ends in TimeoutError."""
    raw = response.raw
    watched = watched or Watched(None, 0.0)
    while True:
        watched.reads += 1  # odd while waiting for Kimi: only that time counts as silence
        data = raw.read1(size)
        watched.reads += 1
        if not data:
            if watched.stalled:
                raise TimeoutError("Kimi stopped sending")
            return
        yield data


def raise_for_error_type(body: Any) -> None:
    if isinstance(body, dict) and isinstance(body.get("error_type"), str):
        raise from_error_type(body["error_type"], str(body.get("message") or ""))


def error_from_response(response: requests.Response) -> errors.KimiError:
    """The KimiError of a non-2xx answer: its `error_type` when the body has one, else the status."""
    text = read_excerpt(response)
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error_type"), str):
        return from_error_type(body["error_type"], str(body.get("message") or ""))
    return errors.from_http_status(response.status_code, text)


def read_excerpt(response: requests.Response, limit: int = 4096) -> str:
    try:
        return response.raw.read(limit, decode_content=True).decode("utf-8", "replace")
    except (*TIMEOUTS, *CONNECTION_FAULTS):
        return ""
