"""Every reply has its own id, and each one names its Kimi chat and assistant message: sent back as the
conversation (body, header, previous_response_id) it continues from exactly that message, so "send the
last id back" works for any number of turns and an earlier id branches."""
import re

import requests

USER_TURN = [{"role": "user", "content": "Next?"}]


def parent_of_last_turn(kimi, chat_id):
    return kimi.chats[chat_id][-1]["parent_id"]


def test_sending_the_last_id_back_continues_turn_after_turn_and_an_earlier_id_branches(kimi, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(model="kimi-latest", messages=USER_TURN)
    chat_id, ids = raw.headers["X-Conversation-Id"], [raw.parse().id]
    for _ in range(2):
        ids.append(openai_client.chat.completions.create(model="kimi-latest", messages=USER_TURN,
                                                         extra_body={"conversation_id": ids[-1]}).id)
    turns = kimi.chats[chat_id]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"chatcmpl-[0-9a-f]{32}", i) for i in ids)
    assert [t["parent_id"] for t in turns[1:]] == [turns[0]["assistant_id"], turns[1]["assistant_id"]]
    openai_client.chat.completions.create(model="kimi-latest", messages=USER_TURN,
                                          extra_headers={"X-Conversation-Id": ids[0]})
    assert len(kimi.chats) == 1 and parent_of_last_turn(kimi, chat_id) == turns[0]["assistant_id"]


def test_an_anthropic_message_id_continues_from_that_message(kimi, anthropic_client):
    raw = anthropic_client.messages.with_raw_response.create(model="kimi-latest", max_tokens=50, messages=USER_TURN)
    first, chat_id = raw.parse(), raw.headers["X-Conversation-Id"]
    second = anthropic_client.messages.create(model="kimi-latest", max_tokens=50, messages=USER_TURN,
                                              extra_body={"conversation_id": first.id})
    assert second.id != first.id and kimi.requests[-1].body["chat_id"] == chat_id
    assert parent_of_last_turn(kimi, chat_id) == kimi.chats[chat_id][0]["assistant_id"]


def test_a_gemini_response_id_continues_from_that_answer(kimi, gateway, user_token):
    url = gateway.url + "/v1beta/models/kimi-latest:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "Next?"}]}]}
    first = requests.post(url, json=body, headers={"x-goog-api-key": user_token}, timeout=15)
    chat_id = first.headers["X-Conversation-Id"]
    second = requests.post(url, json=body, timeout=15, headers={
        "x-goog-api-key": user_token, "X-Conversation-Id": first.json()["responseId"]})
    assert second.json()["responseId"] != first.json()["responseId"]
    assert kimi.requests[-1].body["chat_id"] == chat_id and len(kimi.chats[chat_id]) == 2


def test_previous_response_id_of_an_earlier_turn_branches_the_responses_conversation(kimi, openai_client):
    raw = openai_client.responses.with_raw_response.create(model="kimi-latest", input="One")
    first, chat_id = raw.parse(), raw.headers["X-Conversation-Id"]
    openai_client.responses.create(model="kimi-latest", input="Two", previous_response_id=first.id)
    openai_client.responses.create(model="kimi-latest", input="Two again", previous_response_id=first.id)
    turns = kimi.chats[chat_id]
    assert [t["parent_id"] for t in turns[1:]] == [turns[0]["assistant_id"]] * 2


def test_a_raw_kimi_chat_id_still_continues_from_the_chats_last_message(kimi, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(model="kimi-latest", messages=USER_TURN)
    chat_id = raw.headers["X-Conversation-Id"]
    openai_client.chat.completions.create(model="kimi-latest", messages=USER_TURN,
                                          extra_body={"conversation_id": chat_id})
    assert parent_of_last_turn(kimi, chat_id) == kimi.chats[chat_id][0]["assistant_id"]
