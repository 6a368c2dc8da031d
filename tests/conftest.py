"""Shared fixtures: the fake Kimi upstream, the gateway running as production runs it
(gunicorn + gevent worker, ephemeral port), test tokens and the official SDK clients."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.fake_kimi import FakeKimi
from tests.fake_kimi_legacy import FakeKimiLegacy
from tests.jwts import make_jwt

ROOT = Path(__file__).resolve().parent.parent


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
    fake_legacy_server.reset()
    yield fake_legacy_server
    fake_legacy_server.reset()


@pytest.fixture
def kimi(fake_kimi_server):
    """The fake upstream, emptied of scripts and records before each test."""
    fake_kimi_server.reset()
    yield fake_kimi_server
    fake_kimi_server.reset()


@pytest.fixture(scope="session")
def user_token():
    return make_jwt(sub="testuser0000000000001")


@pytest.fixture(scope="session")
def server_token():
    return make_jwt(sub="serveruser0000000001")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gateway:
    """A gunicorn process serving app:app, and where its log goes."""

    # Every log a gateway of this test run wrote, for the log hygiene check (test_zz_log_hygiene.py).
    log_paths: list[Path] = []

    def __init__(self, env: dict, tmp: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "gateway.log"
        self._log = open(self.log_path, "wb")
        Gateway.log_paths.append(self.log_path)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "configs/gunicorn.conf.py",
             "-b", f"127.0.0.1:{self.port}", "app:app"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # no gunicorn left running, no log file left open
            raise

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()}")
            try:
                if requests.get(self.url + "/ping", timeout=1).text == "pong":
                    return
            except (requests.ConnectionError, requests.Timeout):  # a worker still booting under load
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not become ready")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log.close()


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
