"""Outgoing HTTP sessions are shared by every caller of a worker, so none of them may keep a cookie: one
set for one caller (by Kimi, or by a site an attachment comes from) must never ride on another's call."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from configs.settings import load_models
from kimi.connect.client import KimiClient
from kimi.legacy.client import LegacyClient
from kimi.models import ModelTable
from kimi.refresh import AccountCalls
from kimi.attachments import Fetcher
from kimi.transport import Endpoints


class _CookieSetter(BaseHTTPRequestHandler):
    """Sets a session cookie on every answer and records the Cookie header of every request."""
    seen: list = []

    def do_GET(self):
        _CookieSetter.seen.append(self.headers.get("Cookie"))
        body = b"ok"
        self.send_response(200)
        self.send_header("Set-Cookie", "kimi-auth=callerAsSecret; Path=/; HttpOnly")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def cookie_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CookieSetter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _cookies_sent_on_second_call(session: requests.Session, url: str):
    _CookieSetter.seen.clear()
    for _ in range(2):
        session.get(url + "/any", timeout=5).close()
    return _CookieSetter.seen[1]


def test_a_plain_session_would_send_the_cookie_back(cookie_server):
    # The hazard the shared sessions guard against, shown with requests' default session.
    assert _cookies_sent_on_second_call(requests.Session(), cookie_server) == "kimi-auth=callerAsSecret"


@pytest.mark.parametrize("component", ["connect client", "legacy client", "account calls", "attachment fetcher"])
def test_no_shared_session_sends_back_a_cookie_it_was_given(cookie_server, component):
    models = ModelTable(load_models())
    session = {
        "connect client": lambda: KimiClient(endpoints=Endpoints(base_url=cookie_server), models=models).session,
        "legacy client": lambda: LegacyClient(endpoints=Endpoints(legacy_base_url=cookie_server),
                                               models=models).transport.session,
        "account calls": lambda: AccountCalls(endpoints=Endpoints(refresh_url=cookie_server, probe_url="")).session,
        "attachment fetcher": lambda: Fetcher(allow_private=True).session,
    }[component]()
    assert _cookies_sent_on_second_call(session, cookie_server) is None
    assert len(session.cookies) == 0
