"""Proxy API keys end to end (gunicorn, two gevent workers): each API format's own key header lends
the server's accounts, a wrong or missing key is refused in that format's shape, the loopback rule,
and the per-key limit answering 429 with Retry-After."""

import openai
import pytest
import requests

from blueprints.upstream import services
from tests.support.admin_setup import ADMIN_PASSWORD, create_key
from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways

ADMIN = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
ACCOUNT = make_jwt(sub="keysaccount000000001")
MESSAGES = [{"role": "user", "content": "halo"}]
MODEL = "kimi-k2.5-instant"


def save_account(gateway, token=ACCOUNT):
    response = requests.post(gateway.url + "/auth/save", json={"cookies": token}, headers=ADMIN, timeout=10)
    assert response.status_code in (200, 201)
    return response.json()["account"]


def openai_call(gateway, key):
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as client:
        return client.chat.completions.create(model=MODEL, messages=MESSAGES)


def anthropic_call(gateway, key):
    return requests.post(gateway.url + "/v1/messages", timeout=10, json={
        "model": MODEL, "max_tokens": 50, "messages": MESSAGES},
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"})


def gemini_call(gateway, key, in_query=False):
    path = f"/v1beta/models/{MODEL}:generateContent" + (f"?key={key}" if in_query else "")
    return requests.post(gateway.url + path, timeout=10, json={"contents": [{"parts": [{"text": "halo"}]}]},
                         headers={} if in_query else {"x-goog-api-key": key})


def used_token(kimi):
    return kimi.requests[-1].headers["Authorization"][7:]


def test_loopback_is_served_with_the_saved_account_while_no_key_exists(admin_gateway, kimi):
    save_account(admin_gateway)
    assert openai_call(admin_gateway, "sk-placeholder").choices[0].message.content == "halo"
    assert used_token(kimi) == ACCOUNT


def test_without_any_account_the_error_names_the_auth_page(admin_gateway):
    with pytest.raises(openai.AuthenticationError) as caught:
        openai_call(admin_gateway, "sk-placeholder")
    assert "/auth" in caught.value.message and caught.value.body["code"] == "no_account"


def test_a_key_lends_the_accounts_in_every_format(admin_gateway, kimi):
    save_account(admin_gateway)
    key = create_key(admin_gateway)
    assert openai_call(admin_gateway, key).choices[0].message.content == "halo"
    assert anthropic_call(admin_gateway, key).json()["content"][0]["text"] == "halo"
    assert gemini_call(admin_gateway, key).json()["candidates"][0]["content"]["parts"][0]["text"] == "halo"
    assert gemini_call(admin_gateway, key, in_query=True).status_code == 200
    assert {r.headers["Authorization"] for r in kimi.requests} == {f"Bearer {ACCOUNT}"}


def test_once_a_key_exists_loopback_callers_need_one_too_in_each_format(admin_gateway, kimi):
    save_account(admin_gateway)
    create_key(admin_gateway)
    with pytest.raises(openai.AuthenticationError) as caught:
        openai_call(admin_gateway, "sk-wrong")
    assert "proxy API key" in caught.value.message and "/auth" in caught.value.message
    anthropic = anthropic_call(admin_gateway, "sk-wrong")
    assert anthropic.status_code == 401
    assert anthropic.json()["type"] == "error" and anthropic.json()["error"]["type"] == "authentication_error"
    gemini = gemini_call(admin_gateway, "sk-wrong")
    assert gemini.status_code == 401 and gemini.json()["error"]["status"] == "UNAUTHENTICATED"
    assert kimi.requests == []


def test_an_own_kimi_token_is_still_used_as_is_when_keys_exist(admin_gateway, kimi, user_token):
    save_account(admin_gateway)
    create_key(admin_gateway)
    openai_call(admin_gateway, user_token)
    assert used_token(kimi) == user_token


def test_the_per_key_limit_answers_429_with_retry_after_in_each_format(admin_gateway):
    save_account(admin_gateway)
    key = create_key(admin_gateway, rate_limit="1")
    openai_call(admin_gateway, key)
    with pytest.raises(openai.RateLimitError) as caught:
        openai_call(admin_gateway, key)
    assert 1 <= int(caught.value.response.headers["Retry-After"]) <= 60
    assert caught.value.body["code"] == "key_rate_limited"
    anthropic = anthropic_call(admin_gateway, key)
    assert anthropic.status_code == 429 and anthropic.json()["error"]["type"] == "rate_limit_error"
    assert anthropic.headers["Retry-After"]
    gemini = gemini_call(admin_gateway, key)
    assert gemini.status_code == 429 and gemini.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_keys_from_api_keys_work_and_remote_callers_without_one_are_refused(make_app, kimi):
    app = make_app("admin", kimi_token=ACCOUNT, api_keys="sk-fromenv123")
    client = app.test_client()
    remote = {"REMOTE_ADDR": "203.0.113.50"}
    body = {"model": MODEL, "messages": MESSAGES}
    served = client.post("/v1/chat/completions", json=body, environ_base=remote,
                         headers={"Authorization": "Bearer sk-fromenv123"})
    assert served.status_code == 200 and used_token(kimi) == ACCOUNT
    refused = client.post("/v1/chat/completions", json=body, environ_base=remote)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("forwarding", [{"X-Forwarded-For": "198.51.100.23"}, {"Forwarded": "for=198.51.100.23"},
                                        {"X-Real-IP": "198.51.100.23"}, {"X-Forwarded-Host": "gateway.example"}])
def test_a_keyless_caller_through_a_proxy_on_this_host_is_refused_in_each_format(admin_gateway, kimi, forwarding):
    """Behind nginx, Caddy, ngrok or cloudflared on the same machine every caller's socket is loopback:
    the forwarding header the proxy adds is what tells them apart."""
    save_account(admin_gateway)
    body = {"model": MODEL, "messages": MESSAGES}
    openai_reply = requests.post(admin_gateway.url + "/v1/chat/completions", json=body, headers=forwarding, timeout=10)
    assert openai_reply.status_code == 401 and openai_reply.json()["error"]["code"] == "invalid_api_key"
    anthropic = requests.post(admin_gateway.url + "/v1/messages", json={**body, "max_tokens": 50}, timeout=10,
                              headers={**forwarding, "anthropic-version": "2023-06-01"})
    assert anthropic.status_code == 401 and anthropic.json()["error"]["type"] == "authentication_error"
    gemini = requests.post(admin_gateway.url + f"/v1beta/models/{MODEL}:generateContent", headers=forwarding,
                           json={"contents": [{"parts": [{"text": "halo"}]}]}, timeout=10)
    assert gemini.status_code == 401 and gemini.json()["error"]["status"] == "UNAUTHENTICATED"
    assert kimi.requests == []


def test_with_lend_without_key_off_loopback_callers_need_a_key_too(make_app, kimi):
    app = make_app("admin", kimi_token=ACCOUNT, lend_without_key=False)
    refused = app.test_client().post("/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES},
                                     environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_api_key"
    assert kimi.requests == []


def test_the_startup_log_says_whether_accounts_are_lent_without_a_key(make_app, tmp_path, caplog):
    with caplog.at_level("INFO", logger="gateway.services"):
        make_app("admin", kimi_token=ACCOUNT, data_dir=str(tmp_path / "a"))
        make_app("admin", kimi_token=ACCOUNT, api_keys="sk-k123456", data_dir=str(tmp_path / "b"))
    said = [record.getMessage() for record in caplog.records if record.name == "gateway.services"]
    assert [line.split(":")[0] for line in said if "key" in line] == [
        "No proxy API key exists yet", "The saved Kimi accounts are lent only to callers with a proxy API key."]


def test_a_trusted_proxy_tells_the_client_address_and_an_untrusted_peer_does_not(make_app):
    """Throttles count the real client behind a proxy named in FORWARDED_ALLOW_IPS (loopback by default)."""
    app = make_app("admin", kimi_token=ACCOUNT, api_keys="sk-k123456")
    client = app.test_client()
    for peer, client_address in [("127.0.0.1", "198.51.100.1"), ("127.0.0.1", "198.51.100.2"),
                                 ("203.0.113.9", "198.51.100.3"), ("203.0.113.9", "198.51.100.4")]:
        client.get("/auth/status", environ_base={"REMOTE_ADDR": peer},
                   headers={"Authorization": "Bearer wrong", "X-Forwarded-For": client_address})
    failures = {address: counter["failures"]
                for address, counter in services(app).store.read("login-throttle")["clients"].items()}
    assert failures == {"198.51.100.1": 1, "198.51.100.2": 1, "203.0.113.9": 2}
