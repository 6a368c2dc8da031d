"""The legacy refresh-token path through every API format: a refresh token as the caller's key
takes Kimi's REST API (the fake legacy upstream), the same neutral events come back."""
import itertools
import json

import anthropic
import openai
import pytest
import requests
from google import genai
from google.genai import types

from tests.support.jwts import make_jwt

PLAIN = "Set up a dedicated workspace and keep it free of distractions."
_users = itertools.count()


@pytest.fixture
def refresh_token():
    # A new user per test: the gateway caches access tokens per refresh token, and the fake forgets
    # the ones it issued when it is reset between tests.
    return make_jwt(sub=f"legacyuser{next(_users):010d}", typ="refresh", expires_in=90 * 86400)


@pytest.fixture
def legacy_openai(gateway, refresh_token):
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=refresh_token, max_retries=0) as client:
        yield client


def test_a_refresh_token_takes_the_legacy_path_and_the_temporary_chat_is_deleted(kimi, legacy_kimi, legacy_openai):
    legacy_kimi.replay("legacy_sse_plain.txt")
    reply = legacy_openai.chat.completions.create(model="kimi-latest", messages=[{"role": "user", "content": "Tip?"}])
    assert reply.choices[0].message.content == PLAIN
    assert reply.id.startswith("chatcmpl-") and legacy_kimi.created_chats and kimi.requests == []
    assert legacy_kimi.wait_for(lambda: legacy_kimi.deleted_chats == legacy_kimi.created_chats)


def test_legacy_stream_with_the_openai_sdk(legacy_kimi, legacy_openai):
    legacy_kimi.replay("legacy_sse_plain.txt", split=5)
    stream = legacy_openai.chat.completions.create(model="kimi-latest", stream=True,
                                                   messages=[{"role": "user", "content": "Tip?"}])
    assert "".join(c.choices[0].delta.content or "" for c in stream) == PLAIN


def test_legacy_answer_cut_at_length_arrives_whole(legacy_kimi, legacy_openai):
    legacy_kimi.length_cut(["First half, ", "second half."])
    reply = legacy_openai.chat.completions.create(model="kimi-latest", messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == "First half, second half."
    assert reply.choices[0].finish_reason == "stop"


def test_legacy_conversation_is_continued_and_kept(legacy_kimi, legacy_openai):
    first = legacy_openai.chat.completions.create(model="kimi-latest", extra_headers={"X-Keep-Conversation": "true"},
                                                  messages=[{"role": "user", "content": "one"}])
    # The reply's own id names its chat here too (gateway/reply_ids.py).
    legacy_openai.chat.completions.create(model="kimi-latest", extra_body={"conversation_id": first.id},
                                          messages=[{"role": "user", "content": "two"}])
    assert legacy_kimi.completions[-1][0] == legacy_kimi.created_chats[0]
    assert legacy_kimi.completions[-1][1]["messages"][0]["content"] == "two"


def test_legacy_path_with_the_anthropic_sdk(legacy_kimi, gateway, refresh_token):
    legacy_kimi.replay("legacy_sse_plain.txt")
    client = anthropic.Anthropic(base_url=gateway.url, api_key=refresh_token, max_retries=0)
    message = client.messages.create(model="claude-sonnet-4-6", max_tokens=1024,
                                     messages=[{"role": "user", "content": "Tip?"}])
    assert message.content[0].text == PLAIN and message.stop_reason == "end_turn"


def test_legacy_path_with_the_google_sdk(legacy_kimi, gateway, refresh_token):
    legacy_kimi.replay("legacy_sse_plain.txt")
    client = genai.Client(api_key=refresh_token, http_options=types.HttpOptions(base_url=gateway.url, api_version="v1beta"))
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="Tip?"))
    assert "".join(chunk.text or "" for chunk in chunks) == PLAIN


def test_legacy_errors_answer_in_the_callers_format(legacy_kimi, gateway, refresh_token):
    legacy_kimi.error("auth.token.invalid", "login again")
    response = requests.post(gateway.url + "/v1/messages", timeout=10,
                             headers={"x-api-key": refresh_token, "anthropic-version": "2023-06-01"},
                             json={"model": "claude-sonnet-4-6", "max_tokens": 10,
                                   "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 401 and response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "authentication_error"


def test_legacy_stream_with_the_anthropic_sdk(legacy_kimi, gateway, refresh_token):
    legacy_kimi.replay("legacy_sse_plain.txt", split=7)
    client = anthropic.Anthropic(base_url=gateway.url, api_key=refresh_token, max_retries=0)
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=1024,
                                messages=[{"role": "user", "content": "Tip?"}]) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == PLAIN and final.content[-1].text == PLAIN and final.stop_reason == "end_turn"


def test_legacy_whole_answer_with_the_google_sdk(legacy_kimi, gateway, refresh_token):
    legacy_kimi.replay("legacy_sse_plain.txt")
    client = genai.Client(api_key=refresh_token, http_options=types.HttpOptions(base_url=gateway.url, api_version="v1beta"))
    response = client.models.generate_content(model="gemini-2.5-flash", contents="Tip?")
    assert response.text == PLAIN and response.candidates[0].finish_reason == types.FinishReason.STOP


def test_max_tokens_cuts_a_legacy_answer_and_stops_reading(legacy_kimi, legacy_openai):
    legacy_kimi.events([{"event": "cmpl", "text": piece} for piece in ("Set up", " a dedicated", " workspace", " now")]
                       + [{"event": "all_done"}])
    reply = legacy_openai.chat.completions.create(model="kimi-latest", max_tokens=3,
                                                  messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == "Set up a dedicated"
    assert reply.choices[0].finish_reason == "length"
    assert legacy_kimi.wait_for(lambda: legacy_kimi.deleted_chats == legacy_kimi.created_chats)


def test_a_legacy_answer_that_goes_silent_ends_with_a_timeout_chunk(legacy_kimi, gateway, refresh_token):
    # The worker's stall watch (not a socket timeout) keeps the legacy read deadline: 2 s in suite_fixtures.py.
    legacy_kimi.hold("Still typing")
    response = requests.post(gateway.url + "/v1/chat/completions", timeout=15,
                             headers={"Authorization": f"Bearer {refresh_token}"},
                             json={"model": "kimi-latest", "stream": True,
                                   "messages": [{"role": "user", "content": "x"}]})
    events = [e.removeprefix("data: ") for e in response.content.decode().split("\n\n") if e]
    assert response.status_code == 200 and events[-1] == "[DONE]"
    assert json.loads(events[1])["choices"][0]["delta"]["content"] == "Still typing"
    error = json.loads(events[-2])["error"]
    assert (error["type"], error["code"]) == ("timeout_error", "upstream_timeout")
    assert error["message"] == "Kimi stopped sending in the middle of the answer."
