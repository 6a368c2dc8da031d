"""Usage counts add up across processes: two gunicorn gateways of two gevent workers each on one
redis-server take concurrent requests on two keys, and any process reads the exact totals, split by key
and by account; the store then holds no key, caller token, prompt or answer."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from gateway.access import hash_key
from gateway.request_log import RequestLog
from gateway.store.redis import RedisStore
from gateway.usage_book import UsageBook
from tests.support.admin_setup import ADMIN_PASSWORD, create_key, gateway_env
from tests.support.gateways import PatientGateway
from tests.support.jwts import make_jwt
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service

ADMIN = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
FIRST, SECOND = make_jwt(sub="firstusageaccount001"), make_jwt(sub="secondusageaccount01")
PROMPT = "usage-prompt-marker-5c2e"
N = 24


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("usage-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateways(shared_redis, fake_kimi_server, fake_auth_server, tmp_path_factory):
    started = []
    try:
        for name in ("one", "two"):
            tmp = tmp_path_factory.mktemp(f"usage-gateway-{name}")
            env = gateway_env(fake_kimi_server, fake_auth_server, tmp / "data", REDIS_URL=shared_redis.url,
                              KEY_RATE_LIMIT_PER_MINUTE="0", KEY_MAX_STREAMS="0", ACCOUNT_MAX_STREAMS="0",
                              MODEL_CATALOGUE_TTL="0", NATIVE_CONTINUATION="false")
            started.append(PatientGateway(env, tmp))
        yield started
    finally:
        for gateway in started:
            gateway.stop()


def save(gateway, token):
    response = requests.post(gateway.url + "/auth/save", headers=ADMIN, json={"cookies": token}, timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()["account"]["id"]


def key_id(store, key):
    return next(record["id"] for record in store.read("keys").values() if record["hash"] == hash_key(key))


def test_concurrent_requests_on_two_gateways_are_counted_exactly_by_key_and_account(gateways, shared_redis, kimi):
    one, two = gateways
    accounts = {FIRST: save(one, FIRST), SECOND: save(two, SECOND)}
    keys = [create_key(one), create_key(two)]

    def ask(n):
        return requests.post([one, two][n % 2].url + "/v1/chat/completions", timeout=20,
                             headers={"Authorization": f"Bearer {keys[n // 2 % 2]}"},
                             json={"model": "kimi-k2.5-instant", "messages": [{"role": "user", "content": PROMPT}]})

    with ThreadPoolExecutor(8) as pool:
        assert [response.status_code for response in pool.map(ask, range(N))] == [200] * N
    store = RedisStore(shared_redis.url)
    book = UsageBook(store)
    assert wait_until(lambda: book.summary("24h").overall.totals.requests == N)
    summary = book.summary("24h")
    assert {s.subject: s.totals.requests for s in summary.keys} == {key_id(store, keys[0]): N // 2,
                                                                    key_id(store, keys[1]): N // 2}
    served = [accounts[request.headers["Authorization"][7:]] for request in kimi.requests if "Chat" in request.path]
    assert {s.subject: s.totals.requests for s in summary.accounts} == {a: served.count(a) for a in set(served)}
    assert len(RequestLog(store, keep_days=3).entries(limit=100)) == N
    dump = b"".join(_values(redis.Redis.from_url(shared_redis.url)))
    for secret in (*keys, PROMPT):
        assert secret.encode() not in dump
    store.close()


def _values(client):
    """The bytes of every key's value, whatever its type."""
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"string":
            yield client.get(key)
        elif kind == b"hash":
            yield b"".join(k + v for k, v in client.hgetall(key).items())
        elif kind == b"zset":
            yield b"".join(client.zrange(key, 0, -1))
        else:
            yield client.dump(key)
    client.close()
