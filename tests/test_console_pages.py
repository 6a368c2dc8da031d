"""The owner's console pages over Flask's test client: the login they need, the audit log filled by real
logins, logouts and key changes, the navigation, and what the pages never show."""
import re

import pytest

from tests.support.admin_setup import ADMIN_PASSWORD
from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.auth_fixtures"]  # the fake account service behind the "admin" preset
pytestmark = pytest.mark.app("admin")

CONSOLE = ["/auth/usage", "/auth/requests", "/auth/audit"]


def csrf(client, path="/auth"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def post(client, path, **fields):
    return client.post(path, data={"csrf_token": csrf(client), **fields})


@pytest.fixture
def admin(client):
    assert post(client, "/auth/login", password=ADMIN_PASSWORD).status_code == 303
    return client


def audit_rows(client):
    page = client.get("/auth/audit?lang=en").text
    return re.findall(r'<tr data-action="(\w+)">\s*<td class="nowrap">[^<]+</td>\s*<td>([^<]*)</td>', page)


@pytest.mark.parametrize("path", CONSOLE)
def test_console_pages_send_a_visitor_without_a_session_to_the_login(client, path):
    response = client.get(path)
    assert response.status_code == 303 and response.headers["Location"] == "/auth"


@pytest.mark.parametrize("path", CONSOLE)
def test_console_pages_carry_the_auth_pages_security_headers_and_navigation(admin, path):
    response = admin.get(path + "?lang=en")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
    nav = re.search(r'<nav class="console-nav" aria-label="Admin console">(.*?)</nav>', response.text, re.S).group(1)
    assert re.findall(r'<a href="([^"]+)"', nav) == ["/auth", *CONSOLE]
    assert f'<a href="{path}" aria-current="page">' in nav


def test_the_auth_page_links_to_the_console(admin):
    page = admin.get("/auth?lang=id").text
    assert '<nav class="console-nav" aria-label="Konsol admin">' in page
    assert '<a href="/auth" aria-current="page">Akun &amp; kunci</a>' in page


def test_the_audit_log_lists_logins_failures_key_changes_and_logouts_newest_first(client):
    post(client, "/auth/login", password="wrong guess")
    post(client, "/auth/login", password=ADMIN_PASSWORD)
    page = post(client, "/auth/keys", label="ci-runner").text
    key_id = re.search(r'<tr data-key="(\w+)">', page).group(1)
    post(client, f"/auth/keys/{key_id}/revoke")
    post(client, "/auth/logout")
    post(client, "/auth/login", password=ADMIN_PASSWORD)
    assert audit_rows(client) == [("login", "logged in"), ("logout", "logged out"), ("key_revoked", "key revoked"),
                                  ("key_created", "key created"), ("login", "logged in"),
                                  ("login_failed", "wrong password")]
    page = client.get("/auth/audit?lang=en").text
    created = re.search(r'<tr data-action="key_created">(.*?)</tr>', page, re.S).group(1)
    assert f"<code>{key_id}</code>" in created and "<td>ci-runner</td>" in created  # the label it was given
    failed = re.search(r'<tr data-action="login_failed">(.*?)</tr>', page, re.S).group(1)
    assert "<code>127.0.0.1</code>" in failed and "/auth/login" in failed
    assert "wrong guess" not in page and ADMIN_PASSWORD not in page


def test_account_saves_disables_and_deletions_are_audited_without_their_tokens(admin):
    token = make_jwt(sub="audituser00000000001")
    post(admin, "/auth/accounts", cookies=token, label="main")
    account_id = re.search(r'data-account="(\w+)"', admin.get("/auth").text).group(1)
    for action in ("disable", "enable", "delete"):
        post(admin, f"/auth/accounts/{account_id}/{action}")
    assert [action for action, _ in audit_rows(admin)] == ["account_delete", "account_enable", "account_disable",
                                                           "account_saved", "login"]
    page = admin.get("/auth/audit").text
    assert token not in page and token[:40] not in page


def test_the_json_api_audits_saves_and_clears(admin):
    headers = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
    assert admin.post("/auth/save", json={"access_token": make_jwt(sub="apiuser0000000000001")},
                      headers=headers).status_code == 201
    assert admin.post("/auth/clear", headers=headers).json == {"cleared": 1}
    admin.get("/auth/status", headers={"Authorization": "Bearer not-it"})
    rows = re.findall(r'<tr data-action="(\w+)">(.*?)</tr>', admin.get("/auth/audit").text, re.S)
    assert [action for action, _ in rows] == ["login_failed", "accounts_cleared", "account_saved", "login"]
    assert "/auth/status" in rows[0][1] and "<td>1</td>" in rows[1][1]
