"""The owner's console pages over Flask's test client: the login they need, the audit log filled by real
logins, logouts and key changes, the navigation, and what the pages never show."""
import re
from html import unescape

import pytest

from blueprints.upstream import services

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


PROMPT = "secret-prompt-words"


@pytest.fixture
def traffic(admin, app, kimi):
    """An account and a key "ci"; three requests with the key (two answered, one anthropic stream), one with
    a wrong key; the usage book flushed so the pages see them. Returns the key's id."""
    post(admin, "/auth/accounts", cookies=make_jwt(sub="trafficuser000000001"), label="main")
    page = post(admin, "/auth/keys", label="ci").text
    key = re.search(r'<code id="new-key">(sk-[\w-]+)</code>', page).group(1)
    bearer = {"Authorization": f"Bearer {key}"}
    chat = {"model": "kimi-k2.5-instant", "messages": [{"role": "user", "content": PROMPT}]}
    assert send(admin, "/v1/chat/completions", json=chat, headers=bearer) == 200
    assert send(admin, "/v1/messages", json={**chat, "max_tokens": 50, "stream": True}, headers={"x-api-key": key}) == 200
    assert send(admin, "/v1/chat/completions", json=chat, headers={"Authorization": "Bearer sk-wrong"}) == 401
    with app.app_context():
        services().usage.flush()
    return re.search(r'<tr data-key="(\w+)">', page).group(1)


def send(client, path, **request):
    """POST and read the whole answer; closing it ends the request, which records it."""
    with client.post(path, **request) as response:
        response.get_data()
        return response.status_code


def request_rows(client, query=""):
    return re.findall(r'<tr data-request="[^"]+" data-status="(\d+)">', client.get("/auth/requests?" + query).text)


def test_the_request_log_lists_each_request_and_filters_narrow_it(admin, traffic):
    assert sorted(request_rows(admin)) == ["200", "200", "401"]
    assert request_rows(admin, "status=4xx") == ["401"]
    assert request_rows(admin, f"key={traffic}") == ["200", "200"]
    assert request_rows(admin, f"key={traffic}&status=2xx&model=kimi-k2.5-instant") == ["200", "200"]
    assert request_rows(admin, "model=no-such-model") == []
    assert f'<option value="{traffic}" selected>ci</option>' in admin.get(f"/auth/requests?key={traffic}").text


def test_copy_as_curl_names_this_server_and_a_placeholder_never_the_key_or_prompt(admin, traffic):
    page = admin.get("/auth/requests?status=2xx&lang=en").text
    commands = [unescape(c) for c in re.findall(r'data-curl="([^"]*)"', page)]
    assert "curl -sS -N -X POST http://localhost/v1/messages \\\n  -H \"x-api-key: $KIMI_GATEWAY_KEY\"" in commands[0]
    assert '"stream":true' in commands[0] and '"content":"Hello"' in commands[0]
    assert commands[1].startswith("curl -sS -N -X POST http://localhost/v1/chat/completions")
    assert PROMPT not in page and "sk-" not in page.replace("sk-wrong", "")
    assert 'id="bodies-banner"' not in page


def test_the_usage_dashboard_counts_the_requests_and_draws_them_per_key_and_account(admin, traffic):
    page = admin.get("/auth/usage?lang=en").text
    assert re.search(r'data-total="requests">(\d+)<', page).group(1) == "3"
    assert re.search(r'data-total="errors">(\d+)<', page).group(1) == "1"
    for chart in ("chart-requests", "chart-tokens", "chart-keys", "chart-accounts"):
        assert f'<figure class="chart" id="{chart}">' in page
    assert "<title id=\"chart-keys-title\">Requests per API key</title>" in page
    assert '<th scope="row">ci</th><td>2</td><td>0</td>' in page and '<th scope="row">main</th>' in page
    per_key = re.search(r'<table class="per-subject" id="per-keys">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", per_key, re.S)]
    # The wrong key's 401 counts in the totals only: a credential no key matches has no row of its own.
    assert rows == [["ci", "2", "0", "10", "10", rows[0][5]]] and rows[0][5].endswith(" ms")
    assert re.search(r'<table class="per-subject" id="per-accounts">.*?<th scope="row">main</th><td>2</td>', page, re.S)
    week = admin.get("/auth/usage?span=7d&lang=en").text
    assert '<a href="?span=7d" aria-current="page">Last 7 days</a>' in week and "Day (UTC)" in week


def test_the_banner_shows_on_every_console_page_while_bodies_are_logged(make_app):
    with_bodies = make_app("admin", log_bodies=True).test_client()
    post(with_bodies, "/auth/login", password=ADMIN_PASSWORD)
    for path in ["/auth", *CONSOLE]:
        assert '<p class="notice warn" id="bodies-banner" role="status">LOG_BODIES' in \
            with_bodies.get(path + "?lang=en").text


def test_policy_changes_are_audited_with_their_new_values(admin):
    page = post(admin, "/auth/keys", label="agent").text
    key_id = re.search(r'<tr data-key="(\w+)">', page).group(1)
    post(admin, f"/auth/keys/{key_id}/policy", label="agent", rate_limit="7", max_streams="", daily_cap="50",
         allowed_models="kimi-k2.5-instant, kimi-k2.6", expires="2031-01-31")
    post(admin, "/auth/accounts", cookies=make_jwt(sub="audituser00000000002"), label="main")
    account_id = re.search(r'data-account="(\w+)"', admin.get("/auth").text).group(1)
    post(admin, f"/auth/accounts/{account_id}/policy", min_interval="3", daily_cap="")
    rows = re.findall(r'<tr data-action="(\w+)">(.*?)</tr>', admin.get("/auth/audit?lang=en").text, re.S)
    assert [action for action, _ in rows] == ["account_policy", "account_saved", "key_policy", "key_created",
                                              "login"]
    assert "account policy changed" in rows[0][1] and "min_interval=3.0, daily_cap=none" in rows[0][1]
    assert "key policy changed" in rows[2][1] and ("rate_limit=7, max_streams=none, daily_cap=50, "
                                                   "allowed_models=kimi-k2.5-instant,kimi-k2.6, "
                                                   "expires_at=2031-01-31") in unescape(rows[2][1])
