"""The stage of the third-party client tests, loaded with `pytest_plugins = ["tests.support.client_stage"]`:
the scripted fake Kimi (tests/support/client_kimi.py) and a gunicorn gateway on it, once per test module."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from tests.support.client_kimi import ClientKimi
from tests.support.gateways import Gateway


@pytest.fixture(scope="module")
def client_stage(tmp_path_factory):
    """The scripted fake and the gateway on it, once per test module; no server token, so each client
    pays with its own Kimi token."""
    tmp = tmp_path_factory.mktemp("client-gateway")
    with ClientKimi() as kimi:
        env = {**os.environ, "KIMI_BASE_URL": kimi.url, "DATA_DIR": str(tmp / "data"), "KIMI_TOKEN": "",
               "API_KEYS": "", "WEB_CONCURRENCY": "1", "UPSTREAM_READ_TIMEOUT": "5",
               "UPSTREAM_CONNECT_TIMEOUT": "2", "LOG_LEVEL": "INFO"}
        gateway = Gateway(env, tmp)
        try:
            yield SimpleNamespace(kimi=kimi, gateway=gateway)
        finally:
            gateway.stop()


@pytest.fixture
def stage(client_stage):
    """The module's stage with the fake's records emptied before and after the test."""
    client_stage.kimi.reset()
    yield client_stage
    client_stage.kimi.reset()
