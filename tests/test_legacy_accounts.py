"""A saved account whose refresh token belongs to Kimi's legacy API serves requests through the pool
by the legacy REST path (issue 5 item 6): the Connect refresh call refuses it, so it goes that way.
Kimi rotates that refresh token on each refresh (docs/kimi-protocol.md A.2): the store keeps the newest,
so another worker or a restarted gateway still gets in when the old one is void; a caller's own
refresh token is never stored."""
import orjson
import pytest
import requests

from app import create_app
from blueprints.upstream import services
from gateway.lending import open_pooled
from kimi.events import ChatRequest, Message, TextDelta
from gateway.store import FileStore
from tests.support.admin_setup import ADMIN_PASSWORD, app_config, gateway_env
from tests.support.gateways import PatientGateway
from tests.support.jwts import make_jwt

pytest_plugins = ["tests.support.auth_fixtures"]  # fake account service, redis-server, admin gateways

ADMIN = {"Authorization": f"Bearer {ADMIN_PASSWORD}"}
ANSWER = "Set up a dedicated workspace and keep it free of distractions."
CHAT = {"model": "kimi-latest", "messages": [{"role": "user", "content": "Tip?"}]}


def legacy_refresh_token(sub="legacyowner000000001"):
    return make_jwt(sub=sub, typ="refresh", expires_in=90 * 86400)


@pytest.fixture
def app_client(kimi, kimi_auth, legacy_kimi, tmp_path):
    app = create_app(app_config(kimi, kimi_auth, tmp_path / "data", kimi_legacy_base_url=legacy_kimi.url))
    return app.test_client()


def stored_refresh_tokens(data_dir):
    store = FileStore(data_dir)
    try:
        return [record["refresh_token"] for record in store.read("accounts").values()]
    finally:
        store.close()


def test_a_legacy_account_is_served_by_the_legacy_path(kimi, legacy_kimi, app_client):
    saved = app_client.post("/auth/save", json={"cookies": legacy_refresh_token()}, headers=ADMIN)
    assert saved.status_code == 201, saved.get_data(as_text=True)
    legacy_kimi.replay("legacy_sse_plain.txt")
    reply = app_client.post("/v1/chat/completions", data=orjson.dumps(CHAT))
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.json["choices"][0]["message"]["content"] == ANSWER
    assert kimi.requests == [] and legacy_kimi.created_chats
    status = app_client.get("/auth/status", headers=ADMIN).json
    assert [account["state"] for account in status["accounts"]] == ["legacy"]


def test_the_rotated_refresh_token_is_stored_and_lent_from_then_on(legacy_kimi, app_client, tmp_path):
    original = legacy_refresh_token()
    app_client.post("/auth/save", json={"cookies": original}, headers=ADMIN)
    for _ in range(2):
        assert app_client.post("/v1/chat/completions", data=orjson.dumps(CHAT)).status_code == 200
    assert stored_refresh_tokens(tmp_path / "data") == legacy_kimi.issued_refresh
    # One refresh for both requests: the second was lent the rotated token and found it cached.
    assert legacy_kimi.refresh_calls == 1 and legacy_kimi.issued_refresh[0] != original


def test_a_callers_own_refresh_token_is_never_stored(legacy_kimi, app_client, tmp_path):
    app_client.post("/auth/save", json={"cookies": legacy_refresh_token()}, headers=ADMIN)
    assert app_client.post("/v1/chat/completions", data=orjson.dumps(CHAT)).status_code == 200  # now legacy
    own = legacy_refresh_token(sub="callerowner000000001")
    reply = app_client.post("/v1/chat/completions", data=orjson.dumps(CHAT),
                            headers={"Authorization": f"Bearer {own}"})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    pooled, successor = legacy_kimi.issued_refresh
    assert stored_refresh_tokens(tmp_path / "data") == [pooled]
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert own.encode() not in path.read_bytes() and successor.encode() not in path.read_bytes(), path


@pytest.fixture
def start_gateway(kimi, kimi_auth, legacy_kimi, tmp_path):
    """Starts gunicorn gateways (two workers each) sharing one DATA_DIR, aimed at the legacy fake."""
    started = []

    def start(name):
        (tmp_path / name).mkdir()
        env = gateway_env(kimi, kimi_auth, tmp_path / "data", KIMI_LEGACY_BASE_URL=legacy_kimi.url)
        started.append(PatientGateway(env, tmp_path / name))
        return started[-1]

    yield start
    for gateway in started:
        gateway.stop()


def ask(gateway):
    reply = requests.post(gateway.url + "/v1/chat/completions", json=CHAT, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["choices"][0]["message"]["content"]


def test_a_restarted_gateway_serves_with_the_stored_token_when_kimi_voided_the_old_one(
        legacy_kimi, start_gateway, tmp_path):
    legacy_kimi.void_used_refresh = True  # each refresh token works once
    original = legacy_refresh_token()
    first = start_gateway("first")
    assert requests.post(first.url + "/auth/save", json={"cookies": original}, headers=ADMIN,
                         timeout=30).status_code == 201
    for _ in range(3):  # whichever worker answers, it is lent the token stored last
        assert ask(first) == "Tip?"
    assert stored_refresh_tokens(tmp_path / "data") == legacy_kimi.issued_refresh[-1:]
    first.stop()
    second = start_gateway("second")
    assert ask(second) == "Tip?"
    assert stored_refresh_tokens(tmp_path / "data") == legacy_kimi.issued_refresh[-1:]
    assert original in legacy_kimi.rejected_refresh
    logs = first.log_text() + second.log_text()
    assert "got a rotated refresh token" in logs
    assert not [token for token in [original, *legacy_kimi.issued_refresh] if token in logs]


def test_a_legacy_account_whose_refresh_token_kimi_refuses_is_marked_rejected(legacy_kimi, app_client):
    token = legacy_refresh_token()
    app_client.post("/auth/save", json={"cookies": token}, headers=ADMIN)
    legacy_kimi.rejected_refresh.add(token)
    reply = app_client.post("/v1/chat/completions", data=orjson.dumps(CHAT))
    assert (reply.status_code, reply.json["error"]["code"]) == (401, "no_usable_account")
    [account] = app_client.get("/auth/status", headers=ADMIN).json["accounts"]
    assert account["state"] == "rejected" and "refresh token" in account["last_error"]
    # A rejected account is no longer lent: the next caller gets the same answer without Kimi being asked.
    calls = legacy_kimi.refresh_calls
    again = app_client.post("/v1/chat/completions", data=orjson.dumps(CHAT))
    assert (again.status_code, again.json["error"]["code"]) == (401, "no_usable_account")
    assert legacy_kimi.refresh_calls == calls


def test_a_token_another_worker_rotated_meanwhile_is_tried_before_giving_up(kimi, kimi_auth, legacy_kimi, tmp_path):
    """Two workers lend one saved account's one-use refresh token at once: the one whose exchange comes
    second is refused, finds the rotated token the other stored, and serves with it."""
    legacy_kimi.void_used_refresh = True
    worker_a, worker_b = (create_app(app_config(kimi, kimi_auth, tmp_path / "data", kimi_legacy_base_url=legacy_kimi.url))
                          for _ in range(2))
    original = legacy_refresh_token()
    assert worker_a.test_client().post("/auth/save", json={"cookies": original}, headers=ADMIN).status_code == 201
    lent = []

    def open_chat_after_the_other_worker(chat, credential):
        if not lent:  # worker A serves a request between worker B's lease and B's exchange
            assert worker_a.test_client().post("/v1/chat/completions", data=orjson.dumps(CHAT)).status_code == 200
        lent.append(credential.token)
        return services(worker_b).router.open_chat(chat, credential)

    with worker_b.test_request_context():
        stream, lease = open_pooled(open_chat_after_the_other_worker,
                                    lambda lease: ChatRequest(model="kimi-latest", messages=[Message("user", "Tip?")]),
                                    services(worker_b).pool, prefer=None)
        answer = "".join(event.text for event in stream if isinstance(event, TextDelta))
        stream.close()
        lease.release(stream.chat_id)
    assert answer == "Tip?"
    rotated_by_a, rotated_by_b = legacy_kimi.issued_refresh
    assert lent == [original, rotated_by_a] and original in legacy_kimi.rejected_refresh
    assert stored_refresh_tokens(tmp_path / "data") == [rotated_by_b]
    status = worker_b.test_client().get("/auth/status", headers=ADMIN).json
    assert [account["state"] for account in status["accounts"]] == ["legacy"]
