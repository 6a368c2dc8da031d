"""The Redis store under faults: a Redis that is down answers every API 503 in its own shape within
seconds (no hang), a restarted Redis (append-only file on) still holds every acknowledged write, and the
gateway carries on over it without a restart of its own."""
import signal

import pytest

from blueprints.upstream import services
from gateway.store import StoreUnavailable
from gateway.store.redis import RedisStore
from tests.support.admin_setup import ADMIN_PASSWORD
from tests.support.jwts import make_jwt
from tests.support.redis_server import RedisServer

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways

ADMIN = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
ACCOUNT = make_jwt(sub="redisfaultaccount001")
MESSAGES = [{"role": "user", "content": "halo"}]
MODEL = "kimi-k2.5-instant"


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture
def gateway_app(make_app, redis_server, kimi, kimi_auth):
    """An app on the persistent Redis with one saved account and one proxy key."""
    app = make_app("admin", redis_url=redis_server.url)
    assert app.test_client().post("/auth/save", json={"cookies": ACCOUNT}, headers=ADMIN).status_code == 201
    app.proxy_key, _ = services(app).keyring.create("tests")
    yield app
    services(app).store.close()


def openai_chat(app):
    return app.test_client().post("/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES},
                                  headers={"Authorization": f"Bearer {app.proxy_key}"})


def anthropic_message(app):
    return app.test_client().post("/v1/messages", json={"model": MODEL, "max_tokens": 50, "messages": MESSAGES},
                                  headers={"x-api-key": app.proxy_key, "anthropic-version": "2023-06-01"})


def gemini_generate(app):
    return app.test_client().post(f"/v1beta/models/{MODEL}:generateContent",
                                  json={"contents": [{"parts": [{"text": "halo"}]}]},
                                  headers={"x-goog-api-key": app.proxy_key})


def test_a_store_on_a_stopped_redis_raises_store_unavailable(redis_server):
    store = RedisStore(redis_server.url)
    store.modify("keys", lambda data: data.update(k="v"))
    redis_server.stop()
    for call in (lambda: store.read("keys"), lambda: store.modify("keys", dict.clear),
                 lambda: store.hit("key:x", 60), lambda: store.recall("tip:c1")):
        with pytest.raises(StoreUnavailable) as raised:
            call()
        assert raised.value.status == 503 and raised.value.code == "store_unavailable"
    store.close()


UNREACHABLE = "The gateway's state store is unreachable; try again shortly."


@pytest.mark.parametrize("call, body", [
    (openai_chat, {"error": {"message": UNREACHABLE, "type": "api_error", "param": None, "code": "store_unavailable"}}),
    (anthropic_message, {"type": "error", "error": {"type": "api_error", "message": UNREACHABLE}}),
    (gemini_generate, {"error": {"code": 503, "message": UNREACHABLE, "status": "UNAVAILABLE"}}),
])
def test_with_redis_down_each_api_answers_503_in_its_own_shape(gateway_app, redis_server, call, body):
    assert call(gateway_app).status_code == 200
    redis_server.stop()
    refused = call(gateway_app)
    assert (refused.status_code, refused.headers["Retry-After"], refused.json) == (503, "5", body)


def test_a_stream_under_way_when_redis_goes_down_ends_complete(gateway_app, redis_server, kimi):
    kimi.long_answer(n_frames=30, delay=0.01)
    response = gateway_app.test_client().post(
        "/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True},
        headers={"Authorization": f"Bearer {gateway_app.proxy_key}"}, buffered=False)
    chunks = iter(response.response)
    first = next(chunks)
    redis_server.stop()
    rest = b"".join(chunks)
    response.close()
    events = (first + rest).decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""] and '"finish_reason":"stop"' in events[-3].replace(" ", "")


def test_a_hung_redis_answers_503_after_the_answer_timeout_instead_of_hanging(gateway_app, redis_server):
    redis_server.process.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        refused = openai_chat(gateway_app)
    finally:
        redis_server.process.send_signal(signal.SIGCONT)
    assert refused.status_code == 503 and refused.json["error"]["code"] == "store_unavailable"


def test_the_admin_page_says_the_store_is_unreachable_with_redis_down(gateway_app, redis_server):
    redis_server.stop()
    refused = gateway_app.test_client().get("/auth/status", headers=ADMIN)
    assert refused.status_code == 503 and refused.json["error"]["code"] == "store_unavailable"


def test_a_restarted_redis_keeps_every_acknowledged_write_and_the_gateway_carries_on(gateway_app, redis_server):
    account_id = services(gateway_app).registry.views()[0]["id"]
    services(gateway_app).registry.set_disabled(account_id, True)
    redis_server.stop()
    redis_server.start()
    assert services(gateway_app).registry.views()[0]["state"] == "disabled"
    assert services(gateway_app).keyring.find(gateway_app.proxy_key) is not None
    services(gateway_app).registry.set_disabled(account_id, False)
    assert openai_chat(gateway_app).status_code == 200  # the same app, its pooled connections renewed
