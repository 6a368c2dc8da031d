"""The /auth JSON API for scripts and /token/check, through Flask's test client: admin rights by
bearer password or session (+ CSRF), token-free answers, the throttle on wrong passwords."""
import json
import logging
import re

import pytest

from tests.support.admin_setup import ADMIN_PASSWORD
from tests.support.jwts import make_jwt
from blueprints.upstream import services

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways
pytestmark = pytest.mark.app("admin")

ADMIN = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
TOKEN = make_jwt(sub="apiuser0000000000001")


def test_extract_reads_a_cookie_header_without_admin_and_echoes_only_the_pasted_token(client):
    response = client.post("/auth/extract", json={"cookies": f"theme=dark; kimi-auth={TOKEN}; lang=id"})
    assert response.status_code == 200
    info = response.json
    assert (info["kind"], info["user_id"], info["region"], info["membership_level"], info["expired"]) == \
        ("cookie", "apiuser0000000000001", "overseas", 10, False)
    assert 0.9 < info["hours_left"] <= 1 and info["expires_at"].endswith("Z")
    # The token the caller pasted comes back under the original gateway's `token` key, nowhere else.
    assert info["token"] == TOKEN and response.text.count(TOKEN.split(".")[1]) == 1


def test_extract_of_nothing_is_400(client):
    assert client.post("/auth/extract", json={"cookies": "  "}).status_code == 400


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-password"}])
def test_save_status_and_clear_need_admin_rights(client, headers):
    for method, path in (("post", "/auth/save"), ("get", "/auth/status"), ("post", "/auth/clear")):
        response = getattr(client, method)(path, json={"cookies": TOKEN}, headers=headers)
        assert response.status_code == 401, path
        assert response.json["error"]["code"] in ("admin_required", "invalid_admin_password")


def test_save_adds_an_account_then_updates_it_for_the_same_user(client):
    first = client.post("/auth/save", json={"cookies": f"kimi-auth={TOKEN}", "label": "main"}, headers=ADMIN)
    assert first.status_code == 201 and first.json["created"] is True
    account = first.json["account"]
    assert (account["user_id"], account["state"], account["label"], account["can_renew"]) == \
        ("apiuser0000000000001", "active", "main", False)
    newer = make_jwt(sub="apiuser0000000000001", expires_in=7200)
    second = client.post("/auth/save", json={"cookies": newer}, headers=ADMIN)
    assert second.status_code == 200 and second.json["created"] is False
    assert second.json["account"]["id"] == account["id"]
    assert TOKEN not in first.text and newer not in second.text


def test_an_expired_token_is_refused_at_save_time(client):
    response = client.post("/auth/save", json={"cookies": make_jwt(expires_in=-60)}, headers=ADMIN)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "token_expired" and "expired" in response.json["error"]["message"]


def test_a_refresh_token_alone_is_saved_as_an_account_that_renews_itself(client, kimi_auth):
    response = client.post("/auth/save", json={"refresh_token": kimi_auth.issue_refresh()}, headers=ADMIN)
    assert response.status_code == 201
    assert (response.json["account"]["can_renew"], response.json["account"]["has_access_token"]) == (True, False)


def test_status_lists_accounts_and_keys_without_any_token(app, client):
    client.post("/auth/save", json={"cookies": TOKEN}, headers=ADMIN)
    key, _ = services(app).keyring.create("script")
    status = client.get("/auth/status", headers=ADMIN)
    assert [a["user_id"] for a in status.json["accounts"]] == ["apiuser0000000000001"]
    assert [k["label"] for k in status.json["keys"]] == ["script"]
    assert status.json["admin_password"] == "env"
    assert TOKEN not in status.text and key not in status.text and "hash" not in status.text


def test_clear_is_post_only_and_a_get_says_how(client):
    client.post("/auth/save", json={"cookies": TOKEN}, headers=ADMIN)
    wrong = client.get("/auth/clear", headers=ADMIN)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert "POST /auth/clear" in wrong.json["error"]["message"]
    assert client.post("/auth/clear", headers=ADMIN).json == {"cleared": 1}
    assert client.get("/auth/status", headers=ADMIN).json["accounts"] == []


def test_a_logged_in_session_needs_the_csrf_header_to_change_state(client):
    page = client.get("/auth").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/auth/login", data={"password": ADMIN_PASSWORD, "csrf_token": csrf}).status_code == 303
    assert client.get("/auth/status").status_code == 200
    forged = client.post("/auth/save", json={"cookies": TOKEN})
    assert forged.status_code == 403 and forged.json["error"]["code"] == "csrf_failed"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth").text).group(1)
    assert client.post("/auth/save", json={"cookies": TOKEN}, headers={"X-CSRF-Token": csrf}).status_code == 201


def test_the_right_password_passes_after_many_wrong_ones_from_the_same_address(make_app):
    # Five wrong guesses used to lock the address out for 15 minutes, the owner behind the same proxy too.
    client = make_app("admin", admin_login_max_failures=2, admin_login_max_delay=0.01).test_client()
    for _ in range(6):
        assert client.get("/auth/status", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert client.get("/auth/status", headers=ADMIN).status_code == 200


def test_past_the_global_ceiling_checks_queue_and_a_full_queue_answers_429(make_app):
    client = make_app("admin", admin_login_max_failures=5, admin_login_ceiling_per_hour=1).test_client()

    def status(address, headers):
        return client.get("/auth/status", headers=headers, environ_base={"REMOTE_ADDR": address})

    assert status("198.51.100.1", {"Authorization": "Bearer guess"}).status_code == 401
    assert status("198.51.100.2", ADMIN).status_code == 200  # the next hour's one turn, taken at once
    refused = status("198.51.100.3", ADMIN)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "too_many_logins"
    assert 3600 - 60 - 1 <= int(refused.headers["Retry-After"]) <= 3600 - 60


def test_token_check_probes_kimi_for_access_tokens(client, kimi_auth):
    revoked = make_jwt(sub="revokeduser000000001")
    kimi_auth.revoked_access.add(revoked)
    assert client.post("/token/check", json={"token": TOKEN}).json == {"live": True}
    assert client.post("/token/check", json={"token": f"kimi-auth={revoked}"}).json == {"live": False}
    assert client.post("/token/check", json={"token": make_jwt(expires_in=-5)}).json == {"live": False}


def test_token_check_of_a_refresh_token_uses_the_refresh_call(client, kimi_auth):
    assert client.post("/token/check", json={"token": kimi_auth.issue_refresh()}).json == {"live": True}
    assert client.post("/token/check", json={"token": "not-a-refresh-token"}).json == {"live": False}
    assert len(kimi_auth.refresh_calls) == 2


def test_a_generated_admin_password_is_stored_and_logged_once(make_app, caplog):
    with caplog.at_level(logging.WARNING):
        first = make_app("admin", admin_password="")
        make_app("admin", admin_password="")  # a second worker, or a restart
    password = services(first).admin_password
    announcements = [r.getMessage() for r in caplog.records if "admin password was generated" in r.getMessage()]
    assert len(announcements) == 1 and password in announcements[0] and "/auth" in announcements[0]
    assert len(password) == 20 and password.isalnum()
    client = first.test_client()
    assert client.get("/auth/status", headers={"Authorization": f"Bearer {password}"}).json["admin_password"] == \
        "generated"


def test_with_redis_url_accounts_keys_and_secrets_live_in_redis(make_app, kimi, flushed_redis, tmp_path):
    config = {"data_dir": str(tmp_path / "unused"), "redis_url": flushed_redis}
    first = make_app("admin", **config)
    first.test_client().post("/auth/save", json={"cookies": TOKEN}, headers=ADMIN)
    key, _ = services(first).keyring.create("shared")
    other = make_app("admin", **config)  # another machine sharing the Redis server
    assert other.secret_key == first.secret_key
    assert [a["user_id"] for a in other.test_client().get("/auth/status", headers=ADMIN).json["accounts"]] == \
        ["apiuser0000000000001"]
    response = other.test_client().post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                        json={"model": "kimi-latest", "messages": [{"role": "user", "content": "x"}]},
                                        environ_base={"REMOTE_ADDR": "203.0.113.8"})
    assert response.status_code == 200 and kimi.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert not (tmp_path / "unused").exists()


def test_save_takes_the_two_localstorage_tokens_by_name(client, kimi_auth):
    access, refresh = kimi_auth.issue_pair("pairuser000000000001")
    response = client.post("/auth/save", json={"access_token": access, "refresh_token": refresh}, headers=ADMIN)
    assert response.status_code == 201
    account = response.json["account"]
    assert (account["user_id"], account["state"], account["can_renew"], account["has_access_token"]) == \
        ("pairuser000000000001", "active", True, True)
    assert access not in response.text and refresh not in response.text


def test_save_and_extract_take_the_console_snippets_json_in_cookies(client, kimi_auth):
    access, refresh = kimi_auth.issue_pair("jsonuser000000000001")
    printed = json.dumps({"access_token": access, "refresh_token": refresh})
    info = client.post("/auth/extract", json={"cookies": printed}).json
    assert (info["kind"], info["user_id"], info["can_renew"]) == ("pair", "jsonuser000000000001", True)
    assert client.post("/auth/save", json={"cookies": printed}, headers=ADMIN).status_code == 201
