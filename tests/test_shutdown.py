"""A Heroku-style restart (SIGTERM) lets open streams finish and stops taking new connections."""
import os
import signal

import pytest
import requests

from tests.support.gateways import Gateway
from tests.support.waiting import wait_until


@pytest.fixture
def own_gateway(fake_kimi_server, tmp_path):
    env = {**os.environ, "KIMI_BASE_URL": fake_kimi_server.url, "DATA_DIR": str(tmp_path / "data"),
           "KIMI_TOKEN": "", "WEB_CONCURRENCY": "1", "GRACEFUL_TIMEOUT": "20"}
    server = Gateway(env, tmp_path)
    yield server
    server.stop()


def _refuses_connections(url: str) -> bool:
    try:
        requests.get(url + "/ping", timeout=1)
    except requests.ConnectionError:
        return True
    return False


def test_sigterm_during_a_stream_lets_it_finish_and_then_exits(kimi, own_gateway, user_token):
    kimi.long_answer(n_frames=80, delay=0.025)
    with requests.post(own_gateway.url + "/v1/chat/completions", stream=True, timeout=30,
                       headers={"Authorization": f"Bearer {user_token}"},
                       json={"model": "kimi-latest", "stream": True,
                             "messages": [{"role": "user", "content": "long"}]}) as response:
        lines = response.iter_lines()
        assert next(lines).startswith(b"data: ")
        own_gateway.process.send_signal(signal.SIGTERM)
        assert wait_until(lambda: _refuses_connections(own_gateway.url))
        rest = [line for line in lines if line]
    assert rest[-1] == b"data: [DONE]"
    assert sum(b'"content":"word' in line for line in rest) == 80
    assert own_gateway.process.wait(timeout=20) == 0
