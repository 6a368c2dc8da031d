"""The HTTP sessions every outgoing call uses: shared by all callers of a worker, so they keep no cookies.

A requests.Session stores every Set-Cookie it sees and sends it back on later calls to that host. One
session serves every caller here, so a cookie Kimi (or a site an attachment is fetched from) set for one
caller would ride along on the next caller's request: Kimi could then answer on the wrong account.
Credentials always travel as explicit headers instead.
"""
from __future__ import annotations

import http.cookiejar

import requests


def shared_session() -> requests.Session:
    """A session whose cookie jar refuses every cookie (what it was sent is never sent again)."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session
