"""A 2026 refresh chain behind running gateways (gunicorn, gevent workers): one refresh call for
concurrent requests on two gateway processes sharing one redis-server, and a chain revoked from outside
told to callers in their API's error shape, on /health and on /auth/status."""
import threading

import pytest
import requests

from tests.support.admin_setup import ADMIN_PASSWORD, gateway_env
from tests.support.gateways import PatientGateway

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways

ADMIN = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
BODY = {"model": "kimi-latest", "messages": [{"role": "user", "content": "halo"}]}
REASON = ("Kimi refused the refresh token (HTTP 401: invalid claims). Save the account again on /auth. "
          "Logging in to Kimi in a browser with the same session (or using that session's tokens elsewhere) "
          "can log this gateway out: import a login of its own.")


def save_pair(gateway, access, refresh):
    response = requests.post(gateway.url + "/auth/save", headers=ADMIN, timeout=10,
                             json={"access_token": access, "refresh_token": refresh})
    assert response.status_code == 201, response.text
    return response.json()["account"]["id"]


def chat(gateway):
    return requests.post(gateway.url + "/v1/chat/completions", json=BODY, timeout=15)


@pytest.fixture
def two_gateways(fake_kimi_server, kimi, kimi_auth, flushed_redis, tmp_path):
    """Two gateway processes of two workers each on one redis-server, as two machines would run."""
    started = []
    try:
        for name in ("one", "two"):
            (tmp_path / name).mkdir()
            env = gateway_env(fake_kimi_server, kimi_auth, tmp_path / name / "data", REDIS_URL=flushed_redis)
            started.append(PatientGateway(env, tmp_path / name))
        yield started
    finally:
        for gateway in started:
            gateway.stop()


def test_concurrent_requests_on_two_gateways_sharing_redis_make_one_refresh_call(two_gateways, kimi, kimi_auth):
    kimi_auth.refresh_delay = 0.5  # holds the first refresh open while the other requests arrive
    access, refresh = kimi_auth.issue_pair("twomachines000000001", access_ttl=20)  # due for renewal
    save_pair(two_gateways[0], access, refresh)
    results = []
    threads = [threading.Thread(target=lambda g=gateway: results.append(chat(g).status_code))
               for gateway in two_gateways * 2]  # the account's stream cap (4): no request waits for a slot
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 4 and kimi_auth.refresh_calls == [refresh]
    assert {r.headers["Authorization"][7:] for r in kimi.requests} == {kimi_auth.issued[0][0]}


def test_a_chain_revoked_elsewhere_is_told_in_each_api_shape_and_on_health(admin_gateway, kimi, kimi_auth):
    access, refresh = kimi_auth.issue_pair("revokeduser000000001", access_ttl=20)
    account_id = save_pair(admin_gateway, access, refresh)
    kimi_auth.rotate_elsewhere(refresh)  # the browser refreshed the same chain
    openai = chat(admin_gateway)
    assert openai.status_code == 401 and openai.json()["error"]["code"] == "account_needs_reimport"
    assert openai.json()["error"]["message"] == f"No usable Kimi account on this server (1 needing re-import). {REASON}"
    anthropic = requests.post(admin_gateway.url + "/v1/messages", timeout=15,
                              json={**BODY, "max_tokens": 64})
    assert anthropic.status_code == 401 and anthropic.json()["type"] == "error"
    assert anthropic.json()["error"]["type"] == "authentication_error" and REASON in anthropic.json()["error"]["message"]
    assert kimi_auth.refresh_calls == [refresh] and kimi.requests == []  # refused once, never asked again
    [health] = requests.get(admin_gateway.url + "/health", timeout=5).json()["accounts"]
    assert (health["id"], health["state"], health["reason"]) == (account_id, "reimport", REASON)
