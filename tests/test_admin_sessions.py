"""Admin sessions end: logout ends every copy of every session cookie, a changed password ends them too,
an idle session expires, and the cookie is `Secure` whenever the page was reached over HTTPS."""
import re
import time

import pytest

from tests.support.admin_setup import ADMIN_PASSWORD

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways
pytestmark = pytest.mark.app("admin")


def log_in(client, password=ADMIN_PASSWORD, **request):
    page = client.get("/auth", **request).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/auth/login", data={"password": password, "csrf_token": csrf}, **request)
    assert response.status_code == 303
    return response


def copy_session(app, client):
    """Another browser holding the same cookie (as one copied before logout would be)."""
    thief = app.test_client()
    thief.set_cookie("kimi_admin", client.get_cookie("kimi_admin").value)
    return thief


def test_logout_ends_a_copy_of_the_session_cookie_taken_before(app, client):
    log_in(client)
    thief = copy_session(app, client)
    assert thief.get("/auth/status").status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth").text).group(1)
    client.post("/auth/logout", data={"csrf_token": csrf})
    assert thief.get("/auth/status").status_code == 401


def test_logout_ends_the_sessions_of_other_browsers(app):
    first, second = app.test_client(), app.test_client()
    log_in(first)
    log_in(second)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', second.get("/auth").text).group(1)
    second.post("/auth/logout", data={"csrf_token": csrf})
    assert first.get("/auth/status").status_code == 401
    log_in(first)
    assert first.get("/auth/status").status_code == 200  # a new login after the logout is fine


def test_a_changed_admin_password_ends_earlier_sessions(make_app, app, client):
    log_in(client)
    restarted = make_app("admin", admin_password="a-new-admin-password")
    assert copy_session(restarted, client).get("/auth/status").status_code == 401


def test_an_idle_session_expires_and_a_used_one_lives_on(app, client):
    log_in(client)
    serializer = app.session_interface.get_signing_serializer(app)
    session = serializer.loads(client.get_cookie("kimi_admin").value)
    stale = app.test_client()
    stale.set_cookie("kimi_admin", serializer.dumps({**session, "seen": int(time.time()) - 61 * 60}))
    assert stale.get("/auth/status").status_code == 401
    recent = app.test_client()
    recent.set_cookie("kimi_admin", serializer.dumps({**session, "seen": int(time.time()) - 59 * 60}))
    assert recent.get("/auth/status").status_code == 200
    refreshed = serializer.loads(recent.get_cookie("kimi_admin").value)
    assert refreshed["seen"] >= int(time.time()) - 5  # using it moved the idle clock


@pytest.mark.parametrize("request_over, secure", [
    ({"base_url": "https://gateway.example"}, True),
    ({"headers": {"X-Forwarded-Proto": "https"}}, True),  # from 127.0.0.1, a trusted proxy by default
    ({"headers": {"X-Forwarded-Proto": "https"}, "environ_base": {"REMOTE_ADDR": "203.0.113.9"}}, False),
    ({}, False),
])
def test_the_session_cookie_is_secure_when_reached_over_https(client, request_over, secure):
    cookie = log_in(client, **request_over).headers["Set-Cookie"]
    assert cookie.startswith("kimi_admin=") and ("; Secure" in cookie) is secure
