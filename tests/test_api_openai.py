"""The OpenAI API end to end: gunicorn + gevent worker, the fake Kimi upstream, the official SDK."""
import re

import openai
import orjson
import pytest
import requests

from tests.support.fixture_streams import PLAIN_CHAT_ID, PLAIN_TEXT
from tests.support.scripted_answers import answer

pytest_plugins = ["tests.support.turn_gateways"]  # features_gateway: thinking shown inline


def test_create_returns_the_answer_with_its_own_id_model_and_usage(kimi, openai_client):
    kimi.replay("plain_text.jsonl")
    raw = openai_client.chat.completions.with_raw_response.create(
        model="kimi-k2.5-instant", messages=[{"role": "user", "content": "Focus tip?"}])
    reply = raw.parse()
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{32}", reply.id) and raw.headers["X-Conversation-Id"] == PLAIN_CHAT_ID
    assert reply.model == "kimi-k2.5-instant"
    assert reply.choices[0].message.content == PLAIN_TEXT
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0


def test_stream_delivers_reasoning_then_content(kimi, openai_client):
    kimi.replay("thinking.jsonl")
    stream = openai_client.chat.completions.create(
        model="kimi-k2.5-thinking", stream=True, messages=[{"role": "user", "content": "Is 221 prime?"}])
    chunks = list(stream)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert reasoning == "The user asks whether 221 is prime. Check small factors: 221 / 13 = 17, so it is composite."
    assert content == "No. 221 is not prime because it equals 13 × 17."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_usage_chunk_when_include_usage(kimi, openai_client):
    kimi.replay("unicode_split.jsonl", split=3)
    stream = openai_client.chat.completions.create(
        model="kimi-k2.5-instant", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Greet me"}])
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "你好，世界！ 🚀 Have a great day 👩‍💻✨（祝你顺利） — café naïve résumé."
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_sse_wire_format_is_exact(kimi, gateway, user_token):
    kimi.replay("plain_text.jsonl")
    with requests.post(gateway.url + "/v1/chat/completions", stream=True, timeout=10,
                       headers={"Authorization": f"Bearer {user_token}"},
                       json={"model": "kimi-k2.5-instant", "stream": True,
                             "messages": [{"role": "user", "content": "hi"}]}) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["X-Conversation-Id"] == PLAIN_CHAT_ID
        body = response.content.decode()
    events = body.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    first = orjson.loads(events[0].removeprefix("data: "))
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{32}", first["id"])
    assert first == {"id": first["id"], "object": "chat.completion.chunk", "created": first["created"],
                     "model": "kimi-k2.5-instant", "system_fingerprint": None,
                     "choices": [{"index": 0, "delta": {"role": "assistant"},
                                  "logprobs": None, "finish_reason": None}]}
    last = orjson.loads(events[-3].removeprefix("data: "))
    assert last["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
    assert all(e.startswith("data: ") and "\n" not in e for e in events[:-1])


def test_history_is_folded_into_one_prompt(kimi, openai_client):
    openai_client.chat.completions.create(model="kimi-k2.5-instant", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another one?"}])
    sent = kimi.requests[-1].body
    assert sent["message"]["blocks"][0]["text"]["content"] == (
        "[System instructions]\nBe brief.\n\n"
        "[Conversation so far]\nUser: Name a colour.\n\nAssistant: Blue.\n\n"
        "[Newest message from the user — answer this one]\nAnother one?")
    assert "chat_id" not in sent and "parent_id" not in sent["message"]


def test_request_carries_web_client_headers_from_the_token_claims(kimi, openai_client, user_token):
    openai_client.chat.completions.create(model="kimi-k2.5-thinking", messages=[{"role": "user", "content": "x"}])
    recorded = kimi.requests[-1]
    assert recorded.headers["Authorization"] == f"Bearer {user_token}"
    assert recorded.headers["Content-Type"] == "application/connect+json"
    assert recorded.headers["Connect-Protocol-Version"] == "1"
    assert recorded.headers["X-Traffic-Id"] == "testuser0000000000001"
    assert recorded.headers["X-Msh-Device-Id"] == "7430000000000000002"
    assert recorded.headers["X-Msh-Session-Id"] == "1730000000000000001"
    assert recorded.body["scenario"] == "SCENARIO_K2D5" and recorded.body["options"] == {"thinking": True}


def test_conversation_id_continues_the_chat_with_only_the_newest_turn(kimi, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="kimi-k2.5-instant", messages=[{"role": "user", "content": "My name is Sari."}])
    first, chat_id = raw.parse(), raw.headers["X-Conversation-Id"]
    assistant_id = kimi.chats[chat_id][-1]["assistant_id"]
    second = openai_client.chat.completions.create(
        model="kimi-k2.5-instant", extra_body={"conversation_id": first.id},
        messages=[{"role": "user", "content": "My name is Sari."},
                  {"role": "assistant", "content": first.choices[0].message.content},
                  {"role": "user", "content": "What is my name?"}])
    sent = kimi.requests[-1].body
    assert second.id != first.id
    assert sent["chat_id"] == chat_id and sent["message"]["parent_id"] == assistant_id
    assert sent["message"]["blocks"][0]["text"]["content"] == "What is my name?"
    assert len(kimi.chats[chat_id]) == 2


def test_unknown_model_is_echoed_and_served_by_the_default(kimi, openai_client):
    reply = openai_client.chat.completions.create(model="my-own-name", messages=[{"role": "user", "content": "x"}])
    assert reply.model == "my-own-name"
    assert kimi.requests[-1].body["scenario"] == "SCENARIO_K2D5"


def test_models_list_and_retrieve(gateway, openai_client):
    ids = [model.id for model in openai_client.models.list()]
    for expected in ("kimi-k2.5-instant", "kimi-k2.5-thinking", "kimi-k2.5-agent", "kimi-k2.5-agent-swarm",
                     "kimi-k2-0905-preview", "kimi-k2-0711-preview", "kimi-k2-turbo-preview",
                     "kimi-k2-thinking", "kimi-k2-thinking-turbo", "moonshot-v1-8k", "moonshot-v1-32k",
                     "moonshot-v1-128k", "moonshot-v1-8k-vision-preview", "moonshot-v1-32k-vision-preview",
                     "moonshot-v1-128k-vision-preview", "kimi-latest", "kimi-k2.6", "kimi-search"):
        assert expected in ids
    model = openai_client.models.retrieve("kimi-k2.6")
    assert (model.id, model.object, model.owned_by) == ("kimi-k2.6", "model", "moonshotai")
    with pytest.raises(openai.NotFoundError):
        openai_client.models.retrieve("no-such-model")


def test_ping_and_health_never_show_the_token(gateway, server_token):
    assert requests.get(gateway.url + "/ping", timeout=5).text == "pong"
    health = requests.get(gateway.url + "/health", timeout=5)
    body = health.json()
    assert {key: body[key] for key in ("status", "version", "server_token_present", "server_token_count")} == {
        "status": "ok", "version": "0.1.0", "server_token_present": True, "server_token_count": 1}
    assert [(a["state"], a["can_renew"]) for a in body["accounts"]] == [("active", False)]
    assert server_token not in health.text


def test_loopback_caller_without_own_token_uses_the_server_token(kimi, gateway, server_token):
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-placeholder", max_retries=0) as client:
        client.chat.completions.create(model="kimi-latest", messages=[{"role": "user", "content": "x"}])
    assert kimi.requests[-1].headers["Authorization"] == f"Bearer {server_token}"


def test_server_log_never_contains_a_token(gateway, user_token, server_token, openai_client, kimi):
    openai_client.chat.completions.create(model="kimi-latest", messages=[{"role": "user", "content": "x"}])
    log = gateway.log_text()
    assert user_token not in log and server_token not in log
    assert user_token.split(".")[1] not in log


def test_x_conversation_id_header_continues_the_chat(kimi, gateway, user_token):
    first = requests.post(gateway.url + "/v1/chat/completions", timeout=10,
                          headers={"Authorization": f"Bearer {user_token}"},
                          json={"model": "kimi-latest", "messages": [{"role": "user", "content": "one"}]})
    chat_id = first.headers["X-Conversation-Id"]
    requests.post(gateway.url + "/v1/chat/completions", timeout=10,
                  headers={"Authorization": f"Bearer {user_token}", "X-Conversation-Id": chat_id},
                  json={"model": "kimi-latest", "messages": [{"role": "user", "content": "two"}]})
    assert kimi.requests[-1].body["chat_id"] == chat_id != first.json()["id"]
    assert [turn["user_text"] for turn in kimi.chats[chat_id]] == ["one", "two"]


def test_max_tokens_cuts_the_stream_with_finish_reason_length(kimi, openai_client):
    kimi.replay("plain_text.jsonl")
    chunks = list(openai_client.chat.completions.create(
        model="kimi-latest", stream=True, max_tokens=3, messages=[{"role": "user", "content": "x"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Set up a dedicated"
    assert chunks[-1].choices[0].finish_reason == "length"
    assert kimi.wait_for(lambda: kimi.open_streams == 0)


def test_stop_ends_the_stream_before_the_sequence_and_releases_kimi(kimi, openai_client):
    kimi.long_answer(n_frames=1000, delay=0.02)  # "word0 word1 …" for 20 s, unless the stop ends it
    chunks = list(openai_client.chat.completions.create(  # the timeout fails a gateway that reads on
        model="kimi-latest", stream=True, stop=["never", "word3"], messages=[{"role": "user", "content": "x"}],
        timeout=5))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "word0 word1 word2 "
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]
    assert kimi.wait_for(lambda: kimi.open_streams == 0)


def test_stop_ends_the_whole_answer_before_the_sequence_and_releases_kimi(kimi, openai_client):
    kimi.long_answer(n_frames=1000, delay=0.02)
    reply = openai_client.chat.completions.create(model="kimi-latest", stop="word3", timeout=5,
                                                  messages=[{"role": "user", "content": "x"}])
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == ("word0 word1 word2 ", "stop")
    assert kimi.wait_for(lambda: kimi.open_streams == 0)


def test_stop_inside_a_tool_call_does_not_cut_the_call(kimi, openai_client):
    kimi.frames(answer('Checking. <tool_call>{"name": "get_weather", "arguments": {"city": "Jakarta"}}</tool_call>'))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    reply = openai_client.chat.completions.create(model="kimi-latest", stop="Jakarta", tools=tools,
                                                  messages=[{"role": "user", "content": "Weather in Jakarta?"}])
    choice = reply.choices[0]
    assert (choice.finish_reason, choice.message.content) == ("tool_calls", "Checking. ")
    assert orjson.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Jakarta"}


def test_stop_never_cuts_thinking_shown_inline(turn_kimi, features_gateway, user_token):
    turn_kimi.frames(answer("Sure, the END.", thinking="Should I say END?"))
    with openai.OpenAI(base_url=features_gateway.url + "/v1", api_key=user_token, max_retries=0) as client:
        reply = client.chat.completions.create(model="kimi-k2.5-thinking", stop="END",
                                               messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == "<think>\nShould I say END?\n</think>\n\nSure, the "


def test_bad_stop_is_a_bad_request_naming_the_field(kimi, openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="kimi-latest", stop=["a", "b", "c", "d", "e"],
                                              messages=[{"role": "user", "content": "x"}])
    assert caught.value.body == {"message": "`stop` must be a string or an array of up to 4 strings.",
                                 "type": "invalid_request_error", "param": "stop", "code": None}
    assert kimi.requests == []
