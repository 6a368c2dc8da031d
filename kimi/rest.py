"""Calls to Kimi's REST API, `/api/...` on either host (the legacy path's docs/kimi-protocol.md B.1, B.5; the
Connect path's uploads, A.13): the headers its web client sends, JSON answers, and `error_type` bodies
as KimiErrors. HTTP itself (sessions, failures) is kimi/transport.py's.
"""
from __future__ import annotations

import json
from typing import Any, Optional

import requests

from kimi import errors, tokens, transport
from kimi.stall import Watched

# B.1: random 19-digit numbers, generated once per process like a browser tab keeps them.
DEVICE_ID = tokens.new_device_id()
SESSION_ID = tokens.new_device_id()
EXCERPT_BYTES = 4096  # enough of an error body for its `error_type` JSON


class Transport:
    """One per host: the session, the base URL, the timeouts and the constant headers every call uses."""

    def __init__(self, *, base_url: str, connect_timeout: float = 10, read_timeout: float = 120,
                 session: Optional[requests.Session] = None):
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.timeout = (connect_timeout, read_timeout)
        self.session = session or transport.shared_session()
        self._faults = transport.calling("Kimi", logged_as="Kimi's REST API")
        self._headers = {  # B.1; the analytics cookie is left out (decoration)
            "Accept": "application/json, text/plain, */*",
            "Accept-Encoding": "identity",  # each SSE event is readable the moment it arrives
            **transport.browser_headers(self.base_url),
            "X-Msh-Device-Id": DEVICE_ID,
            "X-Msh-Session-Id": SESSION_ID,
            "R-Timezone": "Asia/Shanghai",
        }

    def headers(self, bearer: str, user_id: str = "", referer_path: str = "") -> dict[str, str]:
        """The headers Kimi's web client sends (B.1), Referer naming the page at `referer_path` if given."""
        headers = {"Authorization": f"Bearer {bearer}", **self._headers}
        if referer_path:
            headers["Referer"] = headers["Origin"] + referer_path
        if user_id:
            headers["X-Traffic-Id"] = user_id
        return headers

    def send(self, method: str, path: str, headers: dict[str, str], *, timeout: Any = None,
             **kwargs: Any) -> requests.Response:
        """The response of a 2xx answer, its body not yet read (the caller closes it); every other
        outcome raises a KimiError."""
        return _successful(self._request(method, path, headers, timeout, kwargs))

    def call_json(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        """The JSON body of a 2xx answer; a body carrying `error_type` is a failure too (B.5)."""
        return _json_of(self.send(method, path, headers, **kwargs), path)

    def call_json_if_served(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        """call_json's answer, or None when the host does not serve `path` (HTTP 404): a path Kimi
        introduced or retired, whose caller has another way."""
        response = self._request(method, path, headers, kwargs.pop("timeout", None), kwargs)
        if response.status_code == 404:
            response.close()
            return None
        return _json_of(_successful(response), path)

    def _request(self, method: str, path: str, headers: dict[str, str], timeout: Any,
                 kwargs: dict[str, Any]) -> requests.Response:
        with self._faults:
            # Always streamed, so an error body is read only up to an excerpt's length.
            return self.session.request(method, self.base_url + path, headers=headers, stream=True,
                                        timeout=timeout or self.timeout, **kwargs)


def _successful(response: requests.Response) -> requests.Response:
    """The response of a 2xx answer; the KimiError of any other (its body read and closed)."""
    if not 200 <= response.status_code < 300:
        with response:
            raise error_from_response(response)
    return response


def _json_of(response: requests.Response, path: str) -> Any:
    with response:
        try:
            body = response.json()
        except (ValueError, *transport.TIMEOUTS, *transport.CONNECTION_FAULTS):
            raise errors.ProtocolError(f"Kimi's {path} answer is not JSON.", code="bad_json") from None
    raise_for_error_type(body)
    return body


def read_chunks(response: requests.Response, size: int = 64 * 1024, watched: Optional[Watched] = None):
    """Bytes as they arrive (read1 returns what is there instead of waiting to fill `size`); failures
    pass through for the caller's transport.Faults to name. `watched` (kimi/stall.py) counts the start
    and end of each read for a stall watch; a body its watch cut ends in TimeoutError."""
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
        raise errors.from_error_type(body["error_type"], str(body.get("message") or ""))


def error_from_response(response: requests.Response) -> errors.KimiError:
    """The KimiError of a non-2xx answer: its `error_type` when the body has one, else the status."""
    text = read_excerpt(response)
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error_type"), str):
        return errors.from_error_type(body["error_type"], str(body.get("message") or ""))
    return errors.from_http_status(response.status_code, text,
                                   transport.retry_after_of(response.headers.get("Retry-After")))


def read_excerpt(response: requests.Response) -> str:
    return transport.read_excerpt(response, EXCERPT_BYTES)
