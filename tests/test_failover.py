"""The account pool behind the API, end to end: a rejected or overloaded account hands the request to
another before the first byte, cooldowns answer 429 with Retry-After, stream slots come back when a
stream closes, and tokens are renewed once, rotated, and kept across a restart."""
import threading

import openai
import pytest
import requests

from gateway.store import FileStore
from tests.support.admin_setup import ADMIN_PASSWORD, gateway_env
from tests.support.gateways import PatientGateway
from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways

ADMIN = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
FIRST, SECOND = make_jwt(sub="firstaccount00000001"), make_jwt(sub="secondaccount0000001")
BODY = {"model": "kimi-latest", "messages": [{"role": "user", "content": "halo"}]}


def save(gateway, cookies=None, refresh_token=None):
    response = requests.post(gateway.url + "/auth/save", headers=ADMIN, timeout=10,
                             json={"cookies": cookies, "refresh_token": refresh_token})
    assert response.status_code in (200, 201), response.text
    return response.json()["account"]["id"]


def chat(gateway, **kwargs):
    return requests.post(gateway.url + "/v1/chat/completions", json=BODY, timeout=15, **kwargs)


def states(gateway):
    accounts = requests.get(gateway.url + "/auth/status", headers=ADMIN, timeout=10).json()["accounts"]
    return {a["id"]: (a["state"], a["reason"]) for a in accounts}


def sent_tokens(kimi):
    return [r.headers["Authorization"][7:] for r in kimi.requests]


def two_accounts_second_used_last(gateway):
    """Save SECOND and use it, then FIRST: FIRST, never used, is the least recently used."""
    second = save(gateway, SECOND)
    assert chat(gateway).status_code == 200
    return save(gateway, FIRST), second


def test_a_rejected_account_is_marked_and_the_request_retried_on_another(admin_gateway, kimi):
    first, second = two_accounts_second_used_last(admin_gateway)
    kimi.rejected_tokens.add(FIRST)
    response = chat(admin_gateway)
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "halo"
    assert sent_tokens(kimi) == [SECOND, FIRST, SECOND]
    assert states(admin_gateway)[first] == ("rejected", "Kimi: The Kimi token was rejected.")
    assert chat(admin_gateway).status_code == 200 and sent_tokens(kimi)[-1] == SECOND


def test_when_every_account_is_rejected_the_error_names_the_auth_page(admin_gateway, kimi):
    save(admin_gateway, FIRST)
    kimi.rejected_tokens.add(FIRST)
    with openai.OpenAI(base_url=admin_gateway.url + "/v1", api_key="sk-local", max_retries=0) as client:
        for _ in range(2):  # the account is retired by the first request; the second never reaches Kimi
            with pytest.raises(openai.AuthenticationError) as caught:
                client.chat.completions.create(**BODY)
            assert caught.value.body["code"] == "no_usable_account"
            assert "1 rejected by Kimi" in caught.value.message and "/auth" in caught.value.message
    assert len(kimi.requests) == 1


def test_an_overloaded_account_cools_down_and_another_serves_before_the_first_byte(admin_gateway, kimi):
    first, second = two_accounts_second_used_last(admin_gateway)
    kimi.replay("error_resource_exhausted.jsonl")
    response = chat(admin_gateway, stream=True)
    assert response.status_code == 200 and b"halo" in response.content
    assert sent_tokens(kimi) == [SECOND, FIRST, SECOND]
    assert states(admin_gateway)[first][0] == "cooling"


def test_with_no_other_account_free_the_overload_is_429_with_the_cooldown_as_retry_after(admin_gateway, kimi):
    save(admin_gateway, FIRST)
    kimi.replay("error_resource_exhausted.jsonl")
    response = chat(admin_gateway)
    assert response.status_code == 429 and response.headers["Retry-After"] == "60"
    again = chat(admin_gateway)
    assert again.status_code == 429 and again.json()["error"]["code"] == "accounts_cooling_down"
    assert 58 <= int(again.headers["Retry-After"]) <= 60 and len(kimi.requests) == 1


def test_an_unauthenticated_account_with_a_refresh_token_is_renewed_and_retried(admin_gateway, kimi, kimi_auth):
    refresh = kimi_auth.issue_refresh("firstaccount00000001")
    account_id = save(admin_gateway, FIRST, refresh)
    kimi.rejected_tokens.add(FIRST)
    assert chat(admin_gateway).status_code == 200
    [(access, rotated)] = kimi_auth.issued
    assert sent_tokens(kimi) == [FIRST, access] and kimi_auth.refresh_calls == [refresh]
    stored = FileStore(admin_gateway.data_dir).read("accounts")[account_id]
    assert (stored["access_token"], stored["refresh_token"]) == (access, rotated)
    assert states(admin_gateway)[account_id] == ("active", "")


def test_concurrent_requests_on_a_token_about_to_expire_renew_it_once(admin_gateway, kimi, kimi_auth):
    kimi_auth.refresh_delay = 0.3  # holds the first refresh open while the others arrive
    # As many requests as one account's stream cap (ACCOUNT_MAX_STREAMS, 4): more would be answered 429.
    save(admin_gateway, make_jwt(sub="shortlived0000000001", expires_in=20),
         kimi_auth.issue_refresh("shortlived0000000001"))
    results = []
    threads = [threading.Thread(target=lambda: results.append(chat(admin_gateway).status_code)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 4 and len(kimi_auth.refresh_calls) == 1
    assert set(sent_tokens(kimi)) == {kimi_auth.issued[0][0]}


def test_the_health_page_tells_expiry_and_renewal_without_tokens(admin_gateway, kimi_auth):
    refresh = kimi_auth.issue_refresh("firstaccount00000001")
    access = make_jwt(sub="firstaccount00000001")  # made now: FIRST's hour started when the suite was collected
    save(admin_gateway, access, refresh)
    health = requests.get(admin_gateway.url + "/health", timeout=5)
    [account] = health.json()["accounts"]
    assert account["state"] == "active" and account["can_renew"] is True and 3500 < account["expires_in"] <= 3600
    assert account["expires_soon"] is True
    assert access not in health.text and refresh not in health.text and "firstaccount" not in health.text


def test_rotated_tokens_accounts_and_keys_survive_a_restart(fake_kimi_server, kimi, kimi_auth, tmp_path):
    env = gateway_env(fake_kimi_server, kimi_auth, tmp_path / "data", WEB_CONCURRENCY="1")
    before = PatientGateway(env, tmp_path)
    try:
        save(before, refresh_token=kimi_auth.issue_refresh("restartuser000000001"))
        assert chat(before).status_code == 200  # renews: the saved refresh token is now void
    finally:
        before.stop()
    kimi.rejected_tokens.add(kimi_auth.issued[0][0])
    after = PatientGateway(env, tmp_path)
    try:
        assert chat(after).status_code == 200  # only the rotated refresh token kept on disk can renew now
    finally:
        after.stop()
    assert len(kimi_auth.issued) == 2 and sent_tokens(kimi)[-1] == kimi_auth.issued[1][0]


def test_a_stream_slot_comes_back_when_the_stream_closes(make_app, kimi):
    app = make_app("admin", kimi_token=FIRST, account_max_streams=1)
    client = app.test_client()
    kimi.long_answer(n_frames=50, delay=0.01)
    held = client.post("/v1/chat/completions", json={**BODY, "stream": True}, buffered=False)
    assert held.status_code == 200
    busy = client.post("/v1/chat/completions", json=BODY)
    assert busy.status_code == 429 and busy.json["error"]["code"] == "accounts_busy"
    held.close()
    assert client.post("/v1/chat/completions", json=BODY).status_code == 200
