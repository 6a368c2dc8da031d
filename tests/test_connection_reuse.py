"""Connections to Kimi are reused: a whole answer hands its connection back to the pool, an abandoned one
closes it (kimi/connect/stream.py). The fake upstream counts the connections it accepts."""
import pytest
import requests

from configs.settings import load_models
from kimi.connect.client import KimiClient
from kimi import tokens
from kimi.events import ChatRequest, Message
from kimi.models import ModelTable
from kimi.transport import Endpoints
from tests.support.fake_kimi import load_fixture
from tests.support.fixture_streams import PLAIN_TEXT
from tests.support.jwts import make_jwt

# No live catalogue: its background call would need a connection of its own while the first chat holds one.
pytestmark = pytest.mark.app("served", model_catalogue_ttl=0)


def _ask(client, **extra):
    return client.post("/v1/chat/completions", json={"model": "kimi-k2.5-instant",
                                                     "messages": [{"role": "user", "content": "hi"}], **extra})


def _content(response) -> str:
    return response.get_json()["choices"][0]["message"]["content"]


def test_sequential_answers_share_one_connection(kimi, client):
    before = kimi.connections_accepted
    for _ in range(5):
        kimi.replay("plain_text.jsonl")
        assert _content(_ask(client)) == PLAIN_TEXT
    for _ in range(5):
        kimi.replay("plain_text.jsonl")
        body = _ask(client, stream=True).get_data(as_text=True)
        assert body.endswith("data: [DONE]\n\n")
    assert kimi.connections_accepted - before == 1


def test_an_answer_cut_by_max_tokens_closes_its_connection_and_the_next_one_opens_a_fresh_one(kimi, client):
    before = kimi.connections_accepted
    kimi.replay("plain_text.jsonl")
    assert _content(_ask(client)) == PLAIN_TEXT
    kimi.long_answer(n_frames=200, delay=0.01)  # on the same connection
    cut = _ask(client, stream=True, max_tokens=2).get_data(as_text=True)
    assert '"finish_reason":"length"' in cut
    assert kimi.wait_for(lambda: not kimi.is_connection_open(before + 1))  # the gateway hung up mid-answer
    kimi.replay("plain_text.jsonl")
    assert _content(_ask(client)) == PLAIN_TEXT
    assert kimi.connections_accepted - before == 2


def test_a_client_that_hangs_up_mid_answer_closes_the_upstream_connection(kimi, client):
    kimi.long_answer(n_frames=200, delay=0.01)
    before = kimi.connections_accepted
    response = client.post("/v1/chat/completions", buffered=False,
                           json={"model": "kimi-k2.5-instant", "stream": True,
                                 "messages": [{"role": "user", "content": "hi"}]})
    next(response.response)  # the role chunk: the answer is under way
    response.close()
    assert kimi.wait_for(lambda: not kimi.is_connection_open(before + 1))


def test_an_answer_with_an_error_mid_stream_closes_its_connection(kimi, client):
    before = kimi.connections_accepted
    kimi.replay("plain_text.jsonl")
    assert _content(_ask(client)) == PLAIN_TEXT
    kimi.frames(load_fixture("plain_text.jsonl")[:8] + [(2, {"error": {"code": "internal", "message": "boom"}})])
    body = _ask(client, stream=True).get_data(as_text=True)
    assert 'data: {"error":{"message":"Kimi: boom"' in body
    assert kimi.wait_for(lambda: not kimi.is_connection_open(before + 1))
    kimi.replay("plain_text.jsonl")
    assert _content(_ask(client)) == PLAIN_TEXT
    assert kimi.connections_accepted - before == 2


def test_a_connection_kimi_closed_while_idle_is_replaced_without_an_error(kimi, client):
    before = kimi.connections_accepted
    for _ in range(2):
        kimi.replay("plain_text.jsonl")
        assert _content(_ask(client)) == PLAIN_TEXT
    assert kimi.connections_accepted - before == 1
    kimi.close_connections()  # Kimi's keep-alive timeout passed
    assert kimi.wait_for(lambda: not kimi.is_connection_open(before + 1))
    kimi.replay("plain_text.jsonl")
    assert _content(_ask(client)) == PLAIN_TEXT
    assert kimi.connections_accepted - before == 2


def test_answers_through_gunicorn_reuse_the_workers_connection(kimi, gateway, user_token):
    before = kimi.connections_accepted
    with requests.Session() as caller:
        for stream in (False, True) * 3:
            kimi.replay("plain_text.jsonl")
            response = caller.post(gateway.url + "/v1/chat/completions", timeout=10,
                                   headers={"Authorization": f"Bearer {user_token}"},
                                   json={"model": "kimi-k2.5-instant", "stream": stream,
                                         "messages": [{"role": "user", "content": "hi"}]})
            assert response.status_code == 200
    # The chat's connection, and one for the live catalogue's background call when it ran beside the first
    # chat (none at all when an earlier test left them in the pool); without reuse, six.
    assert kimi.connections_accepted - before <= 2


def test_a_deleted_chat_leaves_its_connection_to_the_next_answer(kimi):
    client = KimiClient(endpoints=Endpoints(base_url=kimi.url), models=ModelTable(load_models()))
    token = make_jwt(sub="reusereusereusereuse")
    before = kimi.connections_accepted
    for _ in range(2):
        stream = client.open_chat(ChatRequest(model="kimi-latest", messages=[Message("user", "Hello")]), token)
        list(stream)
        client.delete_chat(stream.chat_id, tokens.credential(token))
    assert len(kimi.deleted_chats) == 2 and kimi.connections_accepted - before == 1
