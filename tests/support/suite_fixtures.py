"""The fixtures every test module may use (registered by tests/conftest.py): the fake Kimi upstreams, the
gateway running as production runs it (gunicorn + gevent worker, ephemeral port), test tokens and the
official SDK clients."""
from __future__ import annotations

import os

import pytest

from tests.support.fake_kimi import FakeKimi
from tests.support.fake_kimi_legacy import FakeKimiLegacy
from tests.support.gateways import Gateway
from tests.support.jwts import make_jwt
from tests.support.fake_server import emptied_around


@pytest.fixture(scope="session")
def fake_kimi_server():
    with FakeKimi() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_legacy_server():
    with FakeKimiLegacy() as fake:
        yield fake


@pytest.fixture
def legacy_kimi(fake_legacy_server):
    """The fake legacy (refresh-token) upstream, emptied before each test."""
    yield from emptied_around(fake_legacy_server)


@pytest.fixture
def kimi(fake_kimi_server):
    """The fake upstream, emptied of scripts and records before each test."""
    yield from emptied_around(fake_kimi_server)


@pytest.fixture(scope="session")
def user_token():
    return make_jwt(sub="testuser0000000000001")


@pytest.fixture(scope="session")
def server_token():
    return make_jwt(sub="serveruser0000000001")


@pytest.fixture(scope="session")
def gateway(fake_kimi_server, fake_legacy_server, server_token, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gateway")
    env = {**os.environ, "KIMI_BASE_URL": fake_kimi_server.url, "KIMI_LEGACY_BASE_URL": fake_legacy_server.url,
           "DATA_DIR": str(tmp / "data"),
           "KIMI_TOKEN": server_token, "API_KEYS": "", "WEB_CONCURRENCY": "1",
           "UPSTREAM_READ_TIMEOUT": "2", "UPSTREAM_CONNECT_TIMEOUT": "2", "LOG_LEVEL": "INFO"}
    server = Gateway(env, tmp)
    yield server
    server.stop()


# Each SDK is imported inside its fixture: together they take over a second, which a unit-test run need not pay.
@pytest.fixture
def openai_client(gateway, user_token):
    import openai
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=user_token, max_retries=0) as client:
        yield client


@pytest.fixture
def anthropic_client(gateway, user_token):
    import anthropic
    with anthropic.Anthropic(base_url=gateway.url, api_key=user_token, max_retries=0) as client:
        yield client


@pytest.fixture
def gemini_client(gateway, user_token):
    from google import genai
    from google.genai import types
    options = types.HttpOptions(base_url=gateway.url, api_version="v1beta",
                                retry_options=types.HttpRetryOptions(attempts=1))
    with genai.Client(api_key=user_token, http_options=options) as client:
        yield client
