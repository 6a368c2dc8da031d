"""The /auth page's policy forms driven as a browser would (Flask test client): a key created with its
models, daily cap and expiry, a key's edit form, an account's spacing and daily cap, bad values answered
with a notice, keys from API_KEYS shown as not editable, and each account's health line."""
import re

import pytest

from blueprints.upstream import services
from tests.support.jwts import make_jwt
from tests.test_auth_page import Browser

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways
pytestmark = pytest.mark.app("admin")


@pytest.fixture
def admin(app):
    return Browser(app.test_client()).log_in()


def only_key(app):
    [record] = services(app).store.read("keys").values()
    return record


def key_row(admin, key_id):
    return re.search(rf'<tr data-key="{key_id}">(.*?)</tr>', admin.page, re.S).group(1)


def test_a_key_is_created_with_its_models_daily_cap_and_expiry(app, admin):
    response = admin.submit("/auth/keys", label="agent", allowed_models="kimi-k2.5-instant, gpt-4o",
                            daily_cap="100", expires="2031-01-31")
    assert response.status_code == 201
    record = only_key(app)
    assert (record["allowed_models"], record["daily_cap"]) == (["kimi-k2.5-instant", "gpt-4o"], 100)
    assert record["expires_at"] == 1927670400  # the end of 2031-01-31 UTC: 2031-02-01T00:00Z
    row = key_row(admin, record["id"])
    assert "kimi-k2.5-instant, gpt-4o" in row and "2031-01-31" in row and "<td>100</td>" in row


def test_a_keys_edit_form_saves_its_new_limits(app, admin):
    admin.submit("/auth/keys", label="agent", daily_cap="5")
    key_id = only_key(app)["id"]
    response = admin.submit(f"/auth/keys/{key_id}/policy", label="renamed", rate_limit="7", max_streams="",
                            allowed_models="", daily_cap="", expires="2030-06-01")
    assert response.status_code == 303
    record = only_key(app)
    assert (record["label"], record["rate_limit"], record["daily_cap"], record["allowed_models"]) == \
        ("renamed", 7, None, [])
    assert 'value="2030-06-01"' in key_row(admin, key_id) and "Kebijakan kunci disimpan." in admin.page


@pytest.mark.parametrize("field, value, notice", [
    ("daily_cap", "-3", "Batas harian: bilangan bulat, 0 atau lebih."),
    ("expires", "31/01/2031", "Tanggal berlaku: tulis sebagai YYYY-MM-DD."),
    ("expires", "9999-12-31", "Tanggal berlaku: tulis sebagai YYYY-MM-DD."),  # its end is past the calendar
    ("expires", "0001-01-01", "Tanggal berlaku: tulis sebagai YYYY-MM-DD."),
    ("rate_limit", "0", "Batas permintaan: bilangan bulat, jumlah permintaan per menit."),
])
def test_a_bad_key_limit_answers_the_page_with_a_notice(app, admin, field, value, notice):
    admin.submit("/auth/keys", label="agent")
    key_id = only_key(app)["id"]
    response = admin.submit(f"/auth/keys/{key_id}/policy", label="agent", **{field: value})
    assert response.status_code == 400 and notice in response.text
    assert only_key(app)["label"] == "agent" and only_key(app).get("daily_cap") is None


@pytest.mark.app("admin", api_keys="sk-fromenv-page-0000001")
def test_keys_from_api_keys_show_they_cannot_be_edited(admin):
    admin.get("/auth?lang=en")
    assert "Keys from API_KEYS keep the server&#39;s default limits and cannot be edited here." in admin.page


def test_an_accounts_policy_form_saves_its_spacing_and_daily_cap(app, admin):
    view, _ = services(app).registry.save(make_jwt(sub="pagepolicyaccount001"), None)
    response = admin.submit(f"/auth/accounts/{view['id']}/policy", min_interval="2.5", daily_cap="40")
    assert response.status_code == 303 and "Kebijakan akun disimpan." in admin.page
    assert services(app).store.read("accounts")[view["id"]]["policy"] == {"min_interval": 2.5, "daily_cap": 40}
    admin.submit(f"/auth/accounts/{view['id']}/policy", min_interval="", daily_cap="0")
    assert services(app).store.read("accounts")[view["id"]]["policy"] == {}


def test_a_bad_account_policy_answers_the_page_with_a_notice(app, admin):
    view, _ = services(app).registry.save(make_jwt(sub="pagepolicyaccount002"), None)
    response = admin.submit(f"/auth/accounts/{view['id']}/policy", min_interval="soon", daily_cap="")
    assert response.status_code == 400 and "Jeda antar permintaan: angka detik dari 0 sampai 86400." in response.text
    assert "policy" not in services(app).store.read("accounts")[view["id"]]


@pytest.mark.app("admin", account_circuit_refusals=2)
def test_the_health_line_shows_refusals_and_the_open_circuit_in_english(app, admin):
    view, _ = services(app).registry.save(make_jwt(sub="pagepolicyaccount003"), None)
    for _ in range(2):
        services(app).pool.cool_down(view["id"], "Kimi: resource_exhausted")
    row = admin.get("/auth?lang=en") and admin.row(view["id"])
    assert row.group(1) == "circuit"
    health = re.search(r'<small class="health" data-circuit="open">(.*?)</small>', row.group(2), re.S).group(1)
    assert "Last success: never" in health and "(Kimi: resource_exhausted)" in health
    assert "Refusals today: 2" in health and "circuit open: not lent until a passing Check" in health


ODD_VALUES = ["", "0", "-1", "1e309", "nan", "inf", "99999999999999999999999999", "abc", "\u0000", "💥", "1,5", " 3 ",
              "2031-13-01", "9999-12-31", "<script>", "a" * 5000, "kimi-k2.5-instant, " * 300]


def test_no_odd_form_value_or_console_query_is_answered_with_a_server_error(app, admin):
    view, _ = services(app).registry.save(make_jwt(sub="pagepolicyaccount009"), None)
    admin.submit("/auth/keys", label="agent")
    key_id = only_key(app)["id"]
    for value in ODD_VALUES:
        for field in ("rate_limit", "max_streams", "daily_cap", "allowed_models", "expires", "label"):
            for path in ("/auth/keys", f"/auth/keys/{key_id}/policy", "/auth/keys/nosuchkey/policy"):
                assert admin.submit(path, **{field: value}).status_code < 500, (path, field, value[:20])
        for field in ("min_interval", "daily_cap"):
            for path in (f"/auth/accounts/{view['id']}/policy", "/auth/accounts/nosuchaccount/policy"):
                assert admin.submit(path, **{field: value}).status_code < 500, (path, field, value[:20])
        for path in ("/auth/usage", "/auth/requests", "/auth/audit"):
            for name in ("span", "key", "account", "status", "model", "lang"):
                assert admin.client.get(path, query_string={name: value}).status_code == 200, (path, name)
