"""configs/gunicorn.conf.py: what the Procfile's server is told, and that a gateway on it still finds
Kimi by host name."""
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.fixture_streams import PLAIN_TEXT
from tests.support.gateways import Gateway

CONFIG = str(Path(__file__).resolve().parent.parent / "configs" / "gunicorn.conf.py")


def _load_config(monkeypatch, **env) -> dict:
    for name in ("GEVENT_RESOLVER", "PORT", "PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/not-created-by-this-test")
    return runpy.run_path(CONFIG)


def test_the_gevent_resolver_is_c_ares_unless_the_operator_chose_one(monkeypatch):
    _load_config(monkeypatch)
    assert os.environ["GEVENT_RESOLVER"] == "ares"
    _load_config(monkeypatch, GEVENT_RESOLVER="thread")
    assert os.environ["GEVENT_RESOLVER"] == "thread"


def test_the_server_binds_the_hosts_port(monkeypatch):
    assert _load_config(monkeypatch, PORT="6123")["bind"] == "0.0.0.0:6123"
    assert _load_config(monkeypatch)["bind"] == "0.0.0.0:5000"
    assert _load_config(monkeypatch)["worker_class"] == "configs.gunicorn_worker.GatewayWorker"


def test_every_core_gets_a_worker_unless_the_host_sets_web_concurrency(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 7)  # a machine unlike this one and the old default
    assert _load_config(monkeypatch)["workers"] == 7
    assert _load_config(monkeypatch, WEB_CONCURRENCY="3")["workers"] == 3


def _worker_gc_after_init(**env) -> dict:
    """gc settings of a fresh interpreter after the config's post_worker_init hook (run apart: it
    changes the interpreter's collector, which this test process must keep as it is)."""
    script = ("import gc, json, runpy, sys; hooks = runpy.run_path(sys.argv[1]); hooks['post_worker_init'](None); "
              "print(json.dumps({'threshold': gc.get_threshold(), 'frozen': gc.get_freeze_count()}))")
    done = subprocess.run([sys.executable, "-c", script, CONFIG], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": "/tmp/not-created-by-this-test", **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_worker_collects_garbage_rarely_and_never_walks_what_the_app_built_at_start():
    settings = _worker_gc_after_init()
    assert settings["threshold"] == [50000, 20, 100]
    assert settings["frozen"] > 1000  # everything built before the hook sits in the permanent generation
    assert _worker_gc_after_init(GC_THRESHOLDS="700,10,10")["threshold"] == [700, 10, 10]


@pytest.fixture
def named_gateway(fake_kimi_server, tmp_path):
    """A gateway that reaches the fake Kimi by the name `localhost`, so its resolver has work to do."""
    url = fake_kimi_server.url.replace("127.0.0.1", "localhost")
    env = {**os.environ, "KIMI_BASE_URL": url, "DATA_DIR": str(tmp_path / "data"),
           "KIMI_TOKEN": "", "WEB_CONCURRENCY": "1"}
    env.pop("GEVENT_RESOLVER", None)
    server = Gateway(env, tmp_path)
    yield server
    server.stop()


def test_a_gateway_reaches_kimi_by_host_name(kimi, named_gateway, user_token):
    for _ in range(3):  # new and reused connections alike
        kimi.replay("plain_text.jsonl")
        response = requests.post(named_gateway.url + "/v1/chat/completions", timeout=30,
                                 headers={"Authorization": f"Bearer {user_token}"},
                                 json={"model": "kimi-latest",
                                       "messages": [{"role": "user", "content": "hai"}]})
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == PLAIN_TEXT
