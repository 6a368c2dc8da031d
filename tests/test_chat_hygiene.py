"""Chat hygiene (DELETE_CHATS, here without native continuation): each chat the gateway creates is deleted
with DeleteChat once its reply is complete, in the background; kept ones and continued ones stay.
The janitor works through deletions in order, so waiting for a later chat's deletion shows an earlier
chat was left alone."""
import threading

import anthropic
import openai
import orjson
import pytest
import requests

from tests.support.waiting import wait_until

pytest_plugins = ["tests.support.turn_gateways"]

DELETE_PATH = "/apiv2/kimi.chat.v1.ChatService/DeleteChat"
BODY = {"model": "kimi-k2.5-instant", "messages": [{"role": "user", "content": "Tidy up after me."}]}


def delete_request(kimi, chat_id):
    return next(r for r in kimi.requests if r.path == DELETE_PATH and r.body == {"chat_id": chat_id})


def chat(gateway, token, body=BODY, headers=None, **kwargs):
    response = requests.post(gateway.url + "/v1/chat/completions", timeout=10, json=body,
                             headers={"Authorization": f"Bearer {token}", **(headers or {})}, **kwargs)
    assert response.status_code == 200, response.text
    return response


def test_a_new_chat_is_deleted_after_its_reply_with_the_callers_token(turn_kimi, features_gateway, user_token):
    chat_id = chat(features_gateway, user_token).headers["X-Conversation-Id"]
    assert turn_kimi.wait_for(lambda: chat_id in turn_kimi.deleted_chats)
    delete = delete_request(turn_kimi, chat_id)
    assert delete.headers["Authorization"] == f"Bearer {user_token}"
    assert delete.headers["Content-Type"] == "application/json" and delete.headers["Connect-Protocol-Version"] == "1"


def test_the_reply_ends_before_a_slow_delete_chat_answers(turn_kimi, features_gateway, user_token):
    turn_kimi.delete_gate = gate = threading.Event()
    with requests.post(features_gateway.url + "/v1/chat/completions", stream=True, timeout=5,
                       headers={"Authorization": f"Bearer {user_token}"}, json={**BODY, "stream": True}) as response:
        assert response.content.endswith(b"data: [DONE]\n\n")
    chat_id = response.headers["X-Conversation-Id"]
    assert chat_id not in turn_kimi.deleted_chats  # DeleteChat is still waiting for the gate
    gate.set()
    assert turn_kimi.wait_for(lambda: chat_id in turn_kimi.deleted_chats)


def test_kept_and_continued_chats_stay(turn_kimi, features_gateway, user_token):
    kept = chat(features_gateway, user_token, headers={"X-Keep-Conversation": "true"}).headers["X-Conversation-Id"]
    chat(features_gateway, user_token, body={**BODY, "conversation_id": kept})
    plain = chat(features_gateway, user_token).headers["X-Conversation-Id"]
    assert turn_kimi.wait_for(lambda: plain in turn_kimi.deleted_chats)
    assert kept not in turn_kimi.deleted_chats and len(turn_kimi.chats[kept]) == 2


def test_pool_chats_are_deleted_with_the_accounts_token(turn_kimi, features_gateway, server_token):
    chat_id = chat(features_gateway, "no-key-on-loopback").headers["X-Conversation-Id"]
    assert turn_kimi.wait_for(lambda: chat_id in turn_kimi.deleted_chats)
    assert delete_request(turn_kimi, chat_id).headers["Authorization"] == f"Bearer {server_token}"


def test_a_refused_delete_is_logged_by_chat_id_without_the_token(turn_kimi, features_gateway, user_token):
    turn_kimi.delete_status = 500
    chat_id = chat(features_gateway, user_token).headers["X-Conversation-Id"]
    line = wait_until(lambda: next((line for line in features_gateway.log_text().splitlines()
                                    if f"could not delete Kimi chat {chat_id}" in line), None))
    assert orjson.loads(line)["level"] == "WARNING" and user_token not in features_gateway.log_text()
    assert chat_id in turn_kimi.chats


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_replies_are_cleaned_up_too(turn_kimi, features_gateway, user_token, stream):
    with anthropic.Anthropic(base_url=features_gateway.url, api_key=user_token, max_retries=0) as client:
        raw = client.messages.with_raw_response.create(model="claude-sonnet-4-6", max_tokens=50, stream=stream,
                                                      messages=[{"role": "user", "content": "Bye."}])
        if stream:
            list(raw.parse())
    chat_id = raw.headers["X-Conversation-Id"]
    assert turn_kimi.wait_for(lambda: chat_id in turn_kimi.deleted_chats)


def test_gemini_replies_are_cleaned_up_too(turn_kimi, features_gateway, user_token):
    response = requests.post(features_gateway.url + "/v1beta/models/gemini-2.5-flash:generateContent",
                             headers={"x-goog-api-key": user_token}, timeout=10,
                             json={"contents": [{"role": "user", "parts": [{"text": "Bye."}]}]})
    chat_id = response.headers["X-Conversation-Id"]
    assert response.status_code == 200 and turn_kimi.wait_for(lambda: chat_id in turn_kimi.deleted_chats)


def test_a_chat_abandoned_mid_stream_is_deleted(turn_kimi, features_gateway, user_token):
    turn_kimi.long_answer(n_frames=200, delay=0.02)
    with openai.OpenAI(base_url=features_gateway.url + "/v1", api_key=user_token, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(stream=True, **BODY)
        chat_id, stream = raw.headers["X-Conversation-Id"], raw.parse()
        next(iter(stream))
        stream.close()
    assert turn_kimi.wait_for(lambda: chat_id in turn_kimi.deleted_chats)
