"""The /auth page driven through its HTML forms as a browser would (Flask test client): login,
CSRF rejection, saving, the account list and its actions, proxy keys, languages."""
import json
import re

import pytest
from markupsafe import escape

from blueprints.auth import CONSOLE_SNIPPET
from tests.support.admin_setup import ADMIN_PASSWORD
from tests.support.jwts import make_jwt
from blueprints.upstream import services

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways
pytestmark = pytest.mark.app("admin")

TOKEN = make_jwt(sub="pageuser000000000001")


class Browser:
    """A test client that keeps the last page and fills in its CSRF token like the page's forms do."""

    def __init__(self, client):
        self.client = client
        self.page = ""

    def get(self, path="/auth"):
        response = self.client.get(path)
        self.page = response.text
        return response

    def submit(self, action, **fields):
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', self.page or self.get().text).group(1)
        response = self.client.post(action, data={"csrf_token": csrf, **fields})
        self.page = self.client.get("/auth").text if response.status_code == 303 else response.text
        return response

    def log_in(self):
        assert self.submit("/auth/login", password=ADMIN_PASSWORD).status_code == 303
        return self

    def row(self, account_id):
        return re.search(rf'<tr data-account="{account_id}" data-state="(\w+)">(.*?)</tr>', self.page, re.S)


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def admin(browser):
    return browser.log_in()


def saved_id(admin):
    return re.search(r'data-account="(\w+)"', admin.page).group(1)


def test_the_page_asks_for_the_admin_password_in_indonesian_by_default(browser):
    response = browser.get()
    assert response.status_code == 200 and '<html lang="id">' in browser.page
    assert "Kata sandi admin" in browser.page and 'action="/auth/login"' in browser.page
    assert response.headers["X-Frame-Options"] == "DENY" and "default-src 'self'" in \
        response.headers["Content-Security-Policy"]


def test_english_is_chosen_with_lang_and_remembered(browser):
    browser.get("/auth?lang=en")
    assert "Admin password" in browser.page
    browser.get("/auth")
    assert '<html lang="en">' in browser.page


@pytest.mark.parametrize("lang,skip,nav_auth", [("id", "Langsung ke isi", "Akun &amp; kunci"),
                                                ("en", "Skip to content", "Accounts &amp; keys")])
def test_every_view_of_the_page_has_the_shared_site_header(browser, lang, skip, nav_auth):
    def assert_site_header(logged_in):
        assert f'<html lang="{lang}">' in browser.page
        assert f'<a class="skip-link" href="#main">{skip}</a>' in browser.page and '<main id="main">' in browser.page
        header = re.search(r'<header class="site-header">.*?</header>', browser.page, re.S).group(0)
        assert re.findall(r'<a href="([^"]*)" aria-current="page">([^<]*)</a>', header) == [("/auth", nav_auth)]
        assert ('action="/auth/logout"' in browser.page) is logged_in

    browser.get(f"/auth?lang={lang}")
    assert_site_header(logged_in=False)
    assert browser.submit("/auth/login", password="nope").status_code == 401  # rendered at /auth/login
    assert_site_header(logged_in=False)
    browser.log_in()
    assert_site_header(logged_in=True)
    assert browser.submit("/auth/keys", label="site").status_code == 201  # rendered at /auth/keys
    assert_site_header(logged_in=True)


def test_a_wrong_password_is_refused_on_the_page(browser):
    response = browser.submit("/auth/login", password="nope")
    assert response.status_code == 401 and "Kata sandi salah." in browser.page


def test_forms_without_the_csrf_token_are_rejected(browser, app):
    refused = browser.client.post("/auth/login", data={"password": ADMIN_PASSWORD})
    assert refused.status_code == 403 and "Formulir ini kedaluwarsa" in refused.text
    browser.log_in()
    response = browser.client.post("/auth/accounts", data={"cookies": TOKEN, "csrf_token": "forged"})
    assert response.status_code == 403 and services(app).registry.views() == []


def test_saving_a_pasted_cookie_header_lists_the_account_without_its_token(admin):
    response = admin.submit("/auth/accounts", cookies=f"a=1; kimi-auth={TOKEN}; b=2", refresh_token="", label="Utama")
    assert response.status_code == 303 and "Akun disimpan." in admin.page
    state, cells = admin.row(saved_id(admin)).groups()
    assert state == "active" and "Utama" in cells and "pageuser000000000001" in cells and "aktif" in cells
    assert 'data-exp="' in cells and "segera berakhir" in cells and "belum pernah" in cells  # 1 h left
    assert TOKEN not in admin.page and TOKEN.split(".")[1] not in admin.page


def test_an_expired_token_is_refused_with_a_clear_message(admin):
    expired = make_jwt(expires_in=-3600)
    response = admin.submit("/auth/accounts", cookies=expired, refresh_token="")
    assert response.status_code == 400 and "Token ini sudah kedaluwarsa (20" in admin.page and " UTC)" in admin.page
    assert "data-account=" not in admin.page


def test_an_account_is_disabled_enabled_and_deleted_from_its_row(admin):
    admin.submit("/auth/accounts", cookies=TOKEN)
    account_id = saved_id(admin)
    admin.submit(f"/auth/accounts/{account_id}/disable")
    assert admin.row(account_id).group(1) == "disabled" and "Akun dinonaktifkan." in admin.page
    admin.submit(f"/auth/accounts/{account_id}/enable")
    assert admin.row(account_id).group(1) == "active"
    admin.submit(f"/auth/accounts/{account_id}/delete")
    assert admin.row(account_id) is None and "Akun dihapus." in admin.page


def test_check_live_asks_kimi_and_shows_a_rejection(admin, kimi_auth):
    admin.submit("/auth/accounts", cookies=TOKEN)
    account_id = saved_id(admin)
    admin.submit(f"/auth/accounts/{account_id}/check")
    assert "Kimi menerima token akun ini." in admin.page
    kimi_auth.revoked_access.add(TOKEN)
    admin.submit(f"/auth/accounts/{account_id}/check")
    assert admin.row(account_id).group(1) == "rejected" and "Kimi menolak token akun ini." in admin.page


def test_a_new_key_is_shown_once_and_can_be_revoked(admin, app):
    response = admin.submit("/auth/keys", label="website", rate_limit="5")
    assert response.status_code == 201
    key = re.search(r'<code id="new-key">(sk-[\w-]+)</code>', admin.page).group(1)
    assert services(app).keyring.find(key)["label"] == "website"
    admin.get()
    assert key not in admin.page and key[:6] + "…" in admin.page
    key_id = re.search(r'data-key="(\w+)"', admin.page).group(1)
    admin.submit(f"/auth/keys/{key_id}/revoke")
    assert "Kunci dicabut." in admin.page and services(app).keyring.find(key) is None


def test_a_key_may_carry_its_own_stream_limit(admin, app):
    admin.submit("/auth/keys", label="agent", max_streams="2")
    key = re.search(r'<code id="new-key">(sk-[\w-]+)</code>', admin.page).group(1)
    assert services(app).keyring.stream_limit(services(app).keyring.find(key)) == 2
    assert re.search(r'agent</td>\s*<td>[^<]*</td>\s*<td>2</td>', admin.page)


def test_a_stream_limit_that_is_not_a_whole_number_is_refused(admin, app):
    response = admin.submit("/auth/keys", label="agent", max_streams="0")
    assert response.status_code == 400
    assert "Batas permintaan bersamaan: bilangan bulat, minimal 1." in admin.page
    assert services(app).keyring.views() == []


def test_actions_need_a_login(browser, app):
    browser.get()
    response = browser.submit("/auth/accounts", cookies=TOKEN)
    assert response.status_code == 401 and 'action="/auth/login"' in browser.page
    assert services(app).registry.views() == []


def test_logging_out_ends_the_session(admin):
    admin.submit("/auth/logout")
    assert 'action="/auth/login"' in admin.page
    assert admin.client.get("/auth/status").status_code == 401


def test_the_page_serves_its_own_script_and_stylesheet(browser):
    browser.get()
    for asset in ("/static/auth/auth.js", "/static/auth/auth.css"):
        assert asset in browser.page
        response = browser.client.get(asset)
        assert response.status_code == 200 and len(response.data) > 500
        response.close()
    assert "http" not in re.sub(r'href="\?lang=\w+"', "", "".join(re.findall(r'(?:src|href)="([^"]+)"', browser.page)))


def test_the_page_says_plainly_whether_accounts_are_lent_without_a_key(admin):
    lending = re.search(r'id="keyless"[^>]*>([^<]+)<', admin.page).group(1)
    assert lending.startswith("Saat ini server meminjamkan akun tanpa kunci")
    admin.submit("/auth/keys", label="website")
    assert re.search(r'id="keyless"[^>]*>([^<]+)<', admin.page).group(1) == \
        "Akun hanya dipinjamkan kepada pemanggil dengan kunci API proxy."


def test_the_page_shows_the_2026_steps_and_the_console_snippet_in_both_languages(admin):
    admin.get()
    snippet = f'<code id="console-snippet">{escape(CONSOLE_SNIPPET)}</code>'
    assert "Application → Local Storage → <code>https://www.kimi.com</code>, lalu salin nilai " \
           "<code>access_token</code> dan <code>refresh_token</code>" in admin.page
    assert snippet in admin.page and '<button type="button" data-copy="console-snippet">Salin</button>' in admin.page
    admin.get("/auth?lang=en")
    assert "Application → Local Storage → <code>https://www.kimi.com</code> and copy the values of " \
           "<code>access_token</code> and <code>refresh_token</code>" in admin.page
    assert snippet in admin.page and '<button type="button" data-copy="console-snippet">Copy</button>' in admin.page


def test_saving_the_snippets_json_lists_an_account_that_renews_itself(admin, kimi_auth):
    access, refresh = kimi_auth.issue_pair("snippetuser000000001")
    printed = json.dumps({"access_token": access, "refresh_token": refresh})
    assert admin.submit("/auth/accounts", cookies=printed, refresh_token="").status_code == 303
    state, cells = admin.row(saved_id(admin)).groups()
    assert state == "active" and "snippetuser000000001" in cells and "<td>ya</td>" in cells
    assert access not in admin.page and refresh not in admin.page


def test_a_chain_kimi_refused_shows_needs_reimport_and_why(admin, kimi_auth):
    access, refresh = kimi_auth.issue_pair("reimportuser00000001", access_ttl=20)
    admin.submit("/auth/accounts", cookies=access, refresh_token=refresh)
    account_id = saved_id(admin)
    kimi_auth.rotate_elsewhere(refresh)  # the browser refreshed the same chain
    admin.submit(f"/auth/accounts/{account_id}/check")
    state, cells = admin.row(account_id).groups()
    assert state == "reimport" and "perlu diimpor ulang" in cells
    assert "Kimi refused the refresh token (HTTP 401: invalid claims). Save the account again on /auth." in cells
    assert "same session" in cells
