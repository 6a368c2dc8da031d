"""One Connect unary JSON call on Kimi's web host (`POST {}` with the access token, a JSON answer), as the
account-scoped reads use it: the model catalogue (D.2) and the quota readout (D.6). No caching here."""
from __future__ import annotations

from typing import Any

import requests

from kimi import errors
from kimi.transport import browser_headers, calling, read_excerpt


class UnaryCall:
    """POSTs a JSON body to one URL with a caller's token and returns Kimi's JSON answer. `service` names
    the call in its errors ("Kimi's model catalogue"); `bad_answer` is the code of a non-JSON answer."""

    def __init__(self, url: str, session: requests.Session, timeout: tuple[float, float], service: str,
                 bad_answer: str):
        self.url, self.session, self.timeout = url, session, timeout
        self.service, self.bad_answer = service, bad_answer
        self.faults = calling(service)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "Connect-Protocol-Version": "1", **browser_headers(url)}

    def post(self, token: str, body: bytes = b"{}") -> Any:
        """The answer's JSON; KimiError when Kimi refuses, cannot be reached or answers something else."""
        with self.faults:
            response = self.session.post(self.url, data=body, timeout=self.timeout,
                                         headers={**self.headers, "Authorization": f"Bearer {token}"})
            with response:
                if response.status_code != 200:
                    raise errors.from_http_status(response.status_code, read_excerpt(response, 1024))
                try:
                    return response.json()
                except ValueError:
                    raise errors.ProtocolError(f"{self.service} is not JSON.", code=self.bad_answer) from None
