"""Fixtures for the accounts-and-access tests, loaded with `pytest_plugins = ["tests.support.auth_fixtures"]`:
the fake Kimi account service, a real redis-server on a free loopback port, and a gateway with an
admin password whose state is wiped before each test."""
from __future__ import annotations

import pytest
import redis

from gateway.pool import AccountPool
from gateway.store import FileStore
from gateway.store.redis import RedisStore
from kimi.refresh import AccountCalls
from kimi.transport import Endpoints
from tests.support.admin_setup import gateway_env, wipe_state
from tests.support.fake_kimi_auth import FakeKimiAuth
from tests.support.gateways import PatientGateway
from tests.support.redis_server import RedisServer
from tests.support.fake_server import emptied_around


@pytest.fixture(scope="session")
def fake_auth_server():
    with FakeKimiAuth() as fake:
        yield fake


@pytest.fixture
def kimi_auth(fake_auth_server):
    """The fake account service, with no valid refresh token and default lifetimes, per test."""
    yield from emptied_around(fake_auth_server)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A throwaway redis-server (no persistence) on 127.0.0.1; `make test` installs the binary."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def flushed_redis(redis_url):
    """The redis-server's URL, emptied for this test."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    return redis_url


@pytest.fixture(scope="session")
def admin_gateway_server(fake_kimi_server, fake_auth_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("admin-gateway")
    server = PatientGateway(gateway_env(fake_kimi_server, fake_auth_server, tmp / "data"), tmp)
    server.data_dir = tmp / "data"
    yield server
    server.stop()


@pytest.fixture
def admin_gateway(admin_gateway_server, kimi, kimi_auth):
    """A gunicorn gateway (two workers) with ADMIN_PASSWORD set and empty state for each test."""
    wipe_state(admin_gateway_server.data_dir)
    yield admin_gateway_server
    wipe_state(admin_gateway_server.data_dir)


@pytest.fixture(params=["file", "redis"])
def open_pool(request, tmp_path, kimi_auth):
    """Opens pools on one store (files or Redis), each with a store of its own, as workers and restarts do."""
    where = str(tmp_path) if request.param == "file" else request.getfixturevalue("flushed_redis")
    stores = []

    def open_one() -> AccountPool:
        stores.append(FileStore(where) if request.param == "file" else RedisStore(where))
        return AccountPool(stores[-1], AccountCalls(endpoints=Endpoints(**kimi_auth.call_urls())))

    yield open_one
    for store in stores:
        store.close()
