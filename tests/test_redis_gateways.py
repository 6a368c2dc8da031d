"""Two gunicorn gateways (two gevent workers each) sharing one redis-server, as two machines behind one
name would: a key made on one works on the other and its per-minute limit counts both, a continued chat
goes to the account that opened it whichever gateway serves it, an account Kimi rejected through one is
marked for both, and a logout on one ends the admin session on the other."""
import re

import pytest
import redis
import requests

from tests.support.admin_setup import ADMIN_PASSWORD, create_key, gateway_env
from tests.support.gateways import PatientGateway
from tests.support.jwts import make_jwt
from tests.support.redis_server import RedisServer

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways

ADMIN = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
FIRST, SECOND = make_jwt(sub="firstredisaccount001"), make_jwt(sub="secondredisaccount01")
BODY = {"model": "kimi-latest", "messages": [{"role": "user", "content": "halo"}]}


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("shared-redis"), appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def two_gateways(shared_redis, fake_kimi_server, fake_auth_server, tmp_path_factory):
    started = []
    try:
        for name in ("one", "two"):
            tmp = tmp_path_factory.mktemp(f"redis-gateway-{name}")
            env = gateway_env(fake_kimi_server, fake_auth_server, tmp / "data", REDIS_URL=shared_redis.url)
            started.append(PatientGateway(env, tmp))
        yield started
    finally:
        for gateway in started:
            gateway.stop()


@pytest.fixture
def gateways(two_gateways, shared_redis, kimi, kimi_auth):
    """Both gateways over an emptied Redis, but for the secrets: a worker still starting might store
    another signing key, and the workers would no longer agree on the session cookie."""
    client = redis.Redis.from_url(shared_redis.url)
    for key in client.scan_iter():
        if key != b"kimi-gateway:section:secrets":
            client.delete(key)
    client.close()
    return two_gateways


def save(gateway, token):
    response = requests.post(gateway.url + "/auth/save", headers=ADMIN, json={"cookies": token}, timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()["account"]["id"]


def chat(gateway, key, **headers):
    return requests.post(gateway.url + "/v1/chat/completions", json=BODY, timeout=15,
                         headers={"Authorization": f"Bearer {key}", **headers})


def sent_token(kimi):
    return kimi.requests[-1].headers["Authorization"][7:]


def test_a_key_made_on_one_gateway_works_on_the_other_and_its_limit_counts_both(gateways):
    one, two = gateways
    save(one, FIRST)
    key = create_key(one, rate_limit="2")
    assert chat(two, key).status_code == 200
    assert chat(one, key).status_code == 200
    over = chat(two, key)
    assert over.status_code == 429 and over.json()["error"]["code"] == "key_rate_limited"
    assert chat(one, "sk-not-a-key").status_code == 401


def test_a_chat_continued_on_the_other_gateway_goes_to_the_account_that_opened_it(gateways, kimi):
    one, two = gateways
    save(one, FIRST)
    save(two, SECOND)
    key = create_key(two)
    first = chat(one, key)
    owner, chat_id = sent_token(kimi), first.headers["X-Conversation-Id"]
    for _ in range(2):
        assert chat(two, key, **{"X-Conversation-Id": chat_id}).status_code == 200
        assert sent_token(kimi) == owner


def test_an_account_kimi_rejected_through_one_gateway_is_marked_for_both(gateways, kimi):
    one, two = gateways
    first = save(one, FIRST)
    key = create_key(one)
    kimi.rejected_tokens.add(FIRST)
    assert chat(one, key).status_code == 401
    accounts = requests.get(two.url + "/auth/status", headers=ADMIN, timeout=10).json()["accounts"]
    assert [(account["id"], account["state"]) for account in accounts] == [(first, "rejected")]
    assert chat(two, key).status_code == 401 and len(kimi.requests) == 1  # not tried again by the other


def test_a_logout_on_one_gateway_ends_the_admin_session_on_the_other(gateways):
    one, two = gateways
    with requests.Session() as browser:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(one.url + "/auth", timeout=10).text).group(1)
        browser.post(one.url + "/auth/login", data={"password": ADMIN_PASSWORD, "csrf_token": csrf}, timeout=10)
        assert browser.get(two.url + "/auth/status", timeout=10).status_code == 200  # one cookie for both
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(two.url + "/auth", timeout=10).text).group(1)
        browser.post(two.url + "/auth/logout", data={"csrf_token": csrf}, timeout=10)
        cookie = browser.cookies.get("kimi_admin")
    stale = requests.get(one.url + "/auth/status", cookies={"kimi_admin": cookie or ""}, timeout=10)
    assert stale.status_code == 401
