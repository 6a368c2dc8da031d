"""Gateways with the turn settings of issue 10 switched on, loaded with
`pytest_plugins = ["tests.support.turn_gateways"]`: one for chat hygiene, inline thinking, overload fallback and
uploads; a pair sharing one store (two gunicorn processes of two workers each) for native continuation.
They talk to a fake upstream of their own (`turn_kimi`): their background DeleteChat calls, some due
seconds later, must not land in another test's records of the shared fake."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.fake_kimi import FakeKimi
from tests.support.gateways import Gateway
from tests.support.fake_server import emptied_around

FALLBACK = "kimi-k2.5-thinking>kimi-k2.5-instant"
NATIVE_TTL = 4  # seconds: long enough for a few turns, short enough to watch a deferred deletion


def turn_env(fake_kimi_server, fake_legacy_server, data_dir: Path, server_token: str, **overrides: str) -> dict:
    """A gateway environment aimed at the fake upstreams, the server's one account being `server_token`."""
    return {**os.environ, "KIMI_BASE_URL": fake_kimi_server.url, "KIMI_LEGACY_BASE_URL": fake_legacy_server.url,
            "DATA_DIR": str(data_dir), "KIMI_TOKEN": server_token, "API_KEYS": "", "WEB_CONCURRENCY": "1",
            "UPSTREAM_READ_TIMEOUT": "5", "UPSTREAM_CONNECT_TIMEOUT": "2", "LOG_LEVEL": "INFO", **overrides}


@pytest.fixture(scope="session")
def turn_fake_server():
    with FakeKimi() as fake:
        yield fake


@pytest.fixture
def turn_kimi(turn_fake_server):
    """The turn gateways' fake upstream, emptied before each test."""
    yield from emptied_around(turn_fake_server)


@pytest.fixture(scope="session")
def features_gateway(turn_fake_server, fake_legacy_server, server_token, tmp_path_factory):
    """DELETE_CHATS on (right after each reply: no native continuation), inline thinking, a fallback
    from the thinking to the instant model, a 1 MiB attachment limit and attachment URLs on loopback."""
    tmp = tmp_path_factory.mktemp("features-gateway")
    env = turn_env(turn_fake_server, fake_legacy_server, tmp / "data", server_token, DELETE_CHATS="true",
                   NATIVE_CONTINUATION="false", THINKING_OUTPUT="inline", OVERLOAD_FALLBACK=FALLBACK,
                   ACCOUNT_COOLDOWN_SECONDS="1", MAX_UPLOAD_MB="1", ALLOW_PRIVATE_URLS="true")
    server = Gateway(env, tmp)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def native_gateways(turn_fake_server, fake_legacy_server, server_token, tmp_path_factory):
    """Two gunicorn processes (two workers each) on one DATA_DIR, native continuation and DELETE_CHATS on."""
    tmp = tmp_path_factory.mktemp("native-gateways")
    env = turn_env(turn_fake_server, fake_legacy_server, tmp / "data", server_token, WEB_CONCURRENCY="2",
                   DELETE_CHATS="true", NATIVE_CONTINUATION_TTL=str(NATIVE_TTL))
    servers = []
    try:
        for name in ("first", "second"):
            (tmp / name).mkdir()
            servers.append(Gateway(env, tmp / name))
        yield servers
    finally:
        for server in servers:
            server.stop()
