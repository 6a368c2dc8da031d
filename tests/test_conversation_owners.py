"""A conversation is bound to the credential that opened it: another key, or another own token, gets 404 in
its API's format for `conversation_id`, `X-Conversation-Id` and `previous_response_id` alike."""
import pytest

KEY_A, KEY_B = "sk-owners-key-a-0123456789", "sk-owners-key-b-0123456789"
pytestmark = pytest.mark.app("served", api_keys=f"{KEY_A},{KEY_B}")


def _ask(client, key, **extra):
    headers = {"Authorization": f"Bearer {key}", **extra.pop("headers", {})}
    return client.post("/v1/chat/completions", headers=headers,
                       json={"model": "kimi-latest", "messages": [{"role": "user", "content": "hello"}], **extra})


@pytest.fixture
def chat_of_a(kimi, client):
    opened = _ask(client, KEY_A)
    assert opened.status_code == 200
    return opened.headers["X-Conversation-Id"]


def test_the_key_that_opened_a_chat_continues_it(client, chat_of_a):
    assert _ask(client, KEY_A, conversation_id=chat_of_a).status_code == 200


def test_another_key_gets_404_for_the_chat_id_in_the_body(client, chat_of_a):
    refused = _ask(client, KEY_B, conversation_id=chat_of_a)
    assert refused.status_code == 404
    assert refused.json["error"] == {
        "message": f"No conversation {chat_of_a!r} was opened with this credential.", "type": "not_found_error",
        "param": "conversation_id", "code": "conversation_not_found"}


def test_another_key_gets_404_for_the_chat_id_in_the_header_in_anthropic_shape(client, chat_of_a):
    refused = client.post("/v1/messages", headers={"x-api-key": KEY_B, "X-Conversation-Id": chat_of_a},
                          json={"model": "kimi-latest", "max_tokens": 50,
                                "messages": [{"role": "user", "content": "hello"}]})
    assert refused.status_code == 404
    assert refused.json["type"] == "error" and refused.json["error"]["type"] == "not_found_error"


def test_another_key_gets_404_for_previous_response_id(client, chat_of_a):
    refused = client.post("/v1/responses", headers={"Authorization": f"Bearer {KEY_B}"},
                          json={"model": "kimi-latest", "input": "hello", "previous_response_id": "resp_" + chat_of_a})
    assert refused.status_code == 404
    assert refused.json["error"]["code"] == "conversation_not_found"


def test_an_own_token_gets_404_for_a_chat_a_key_opened(client, chat_of_a, user_token):
    assert _ask(client, user_token, conversation_id=chat_of_a).status_code == 404


def test_a_chat_the_gateway_never_served_is_refused_on_the_servers_accounts(kimi, client):
    assert _ask(client, KEY_A, conversation_id="19a0c0ffee-owners-chat").status_code == 404
    assert kimi.requests == []


def test_a_chat_the_gateway_never_served_goes_to_kimi_on_the_callers_own_token(kimi, client, user_token):
    answer = _ask(client, user_token, conversation_id="19a0c0ffee-own-chat")
    assert answer.json["error"]["code"] != "conversation_not_found"  # Kimi's own answer (the fake knows no such chat)
    assert kimi.requests[-1].body["chat_id"] == "19a0c0ffee-own-chat"
