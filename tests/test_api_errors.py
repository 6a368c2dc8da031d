"""Every bad input and upstream fault answers in OpenAI's error shape with the right status,
before or during a stream, and the worker keeps serving."""
import json

import openai
import orjson
import pytest
import requests

from tests.support.gateways import free_port
from tests.support.jwts import make_jwt

USER_MESSAGES = [{"role": "user", "content": "hi"}]


def post(gateway, token, body, **kwargs):
    return requests.post(gateway.url + "/v1/chat/completions", timeout=15,
                         headers={"Authorization": f"Bearer {token}"}, data=body, **kwargs)


def chat_body(stream=False):
    return orjson.dumps({"model": "kimi-latest", "stream": stream, "messages": USER_MESSAGES})


def sse_events(response):
    return [e.removeprefix("data: ") for e in response.content.decode().split("\n\n") if e]


@pytest.mark.parametrize("body, param", [(b"{not json", None), (b"", None),
                                         (b'{"model": "m"}', "messages"),
                                         (b'{"model": "m", "messages": [{"role": "user", "content": 3}]}',
                                          "messages[0].content")])
def test_bad_requests_are_400_in_openai_shape(gateway, user_token, body, param):
    response = post(gateway, user_token, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


def test_sdk_raises_bad_request_for_wrong_types(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="kimi-latest", messages="hello")
    assert caught.value.body["param"] == "messages"


@pytest.mark.parametrize("fixture, status, sdk_error, code", [
    ("error_unauthenticated.jsonl", 401, openai.AuthenticationError, "unauthenticated"),
    ("error_resource_exhausted.jsonl", 429, openai.RateLimitError, "resource_exhausted"),
    ("error_paywall.jsonl", 402, openai.APIStatusError, "resource_exhausted"),
])
def test_upstream_errors_before_content_get_their_real_status(kimi, openai_client, fixture, status, sdk_error, code):
    kimi.replay(fixture)
    with pytest.raises(sdk_error) as caught:
        openai_client.chat.completions.create(model="kimi-latest", messages=USER_MESSAGES, stream=True)
    assert caught.value.status_code == status
    assert caught.value.body["code"] == code


def test_overload_carries_retry_after_and_the_kimi_message(kimi, gateway, user_token):
    kimi.replay("error_resource_exhausted.jsonl")
    response = post(gateway, user_token, chat_body(stream=True))
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert "Kimi is busy at the moment" in response.json()["error"]["message"]


def test_auth_errors_tell_the_sdk_not_to_retry(kimi, gateway, user_token):
    kimi.replay("error_unauthenticated.jsonl")
    response = post(gateway, user_token, chat_body())
    assert response.status_code == 401 and response.headers["x-should-retry"] == "false"


def test_expired_token_is_refused_without_calling_kimi(kimi, gateway):
    response = post(gateway, make_jwt(expires_in=-100), chat_body())
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]
    assert kimi.requests == []


@pytest.mark.parametrize("status", [500, 503])
def test_upstream_http_5xx_is_502(kimi, gateway, user_token, status):
    kimi.http_error(status)
    response = post(gateway, user_token, chat_body())
    assert response.status_code == 502 and response.json()["error"]["type"] == "api_error"


def test_upstream_http_401_is_401(kimi, gateway, user_token):
    kimi.http_error(401, body=b'{"code":"unauthenticated"}')
    assert post(gateway, user_token, chat_body()).status_code == 401


def test_upstream_that_never_answers_is_504(kimi, gateway, user_token):
    kimi.hang(seconds=10)
    response = post(gateway, user_token, chat_body(stream=True))
    assert response.status_code == 504 and response.json()["error"]["type"] == "timeout_error"


@pytest.mark.parametrize("body, code", [
    (b"\x01\x00\x00\x00\x02{}", "compressed_frame"),  # compression was never negotiated
    (b"\x00\x00\x00\x00\x03abc", "bad_frame"),  # not JSON
    (b"\x00\xff\xff\xff\xff", "frame_too_large"),  # a 4 GiB frame announced
])
def test_malformed_upstream_frames_are_502(kimi, gateway, user_token, body, code):
    kimi.raw(body)
    response = post(gateway, user_token, chat_body())
    assert response.status_code == 502 and response.json()["error"]["code"] == code


def test_stream_cut_mid_frame_ends_with_error_chunk_then_done(kimi, gateway, user_token):
    kimi.cut(after_frames=6)
    response = post(gateway, user_token, chat_body(stream=True))
    events = sse_events(response)
    assert response.status_code == 200 and events[-1] == "[DONE]"
    assert orjson.loads(events[-2])["error"]["type"] == "api_error"
    assert orjson.loads(events[1])["choices"][0]["delta"]["content"] == "Set up"


def test_upstream_silent_mid_stream_ends_with_a_timeout_chunk_and_is_cut(kimi, gateway, user_token):
    kimi.stall(after_frames=6, seconds=20)  # the gateway's read deadline is 2 s (tests/support/suite_fixtures.py)
    response = post(gateway, user_token, chat_body(stream=True))
    events = sse_events(response)
    assert response.status_code == 200 and events[-1] == "[DONE]"
    assert orjson.loads(events[1])["choices"][0]["delta"]["content"] == "Set up"
    error = orjson.loads(events[-2])["error"]
    assert (error["type"], error["code"]) == ("timeout_error", "upstream_timeout")
    assert error["message"] == "Kimi stopped sending in the middle of the answer."
    assert kimi.wait_for(lambda: kimi.open_streams == 0, timeout=5)  # the gateway cut the connection


def test_error_after_done_fails_the_stream_for_the_sdk(kimi, openai_client):
    kimi.replay("error_after_done.jsonl")
    stream = openai_client.chat.completions.create(model="kimi-latest", messages=USER_MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError, match="Please sign in"):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Owls can turn their heads"


def test_error_after_done_without_stream_is_an_http_error(kimi, gateway, user_token):
    kimi.replay("error_after_done.jsonl")
    response = post(gateway, user_token, chat_body())
    assert response.status_code == 401 and "Please sign in" in response.json()["error"]["message"]


def test_client_disconnect_closes_the_upstream_stream(kimi, gateway, user_token):
    kimi.long_answer(n_frames=2000, delay=0.01)
    with post(gateway, user_token, chat_body(stream=True), stream=True) as response:
        lines = response.iter_lines()
        assert next(lines).startswith(b"data: ")
        assert kimi.open_streams == 1
    assert kimi.wait_for(lambda: kimi.open_streams == 0, timeout=10)


def test_unknown_route_and_wrong_method_answer_in_openai_shape(gateway):
    missing = requests.get(gateway.url + "/v1/nothing-here", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    wrong = requests.get(gateway.url + "/v1/chat/completions", timeout=5)
    assert wrong.status_code == 405 and "GET is not allowed" in wrong.json()["error"]["message"]


def test_worker_survived_every_fault_without_a_traceback(gateway, openai_client, kimi):
    reply = openai_client.chat.completions.create(model="kimi-latest", messages=USER_MESSAGES)
    assert reply.choices[0].message.content == "hi"
    assert "Traceback" not in gateway.log_text()
    assert "Worker exiting" not in gateway.log_text()


def test_refused_connection_is_502(make_app, user_token):
    app = make_app(kimi_base_url=f"http://127.0.0.1:{free_port()}")
    response = app.test_client().post("/v1/chat/completions", data=chat_body(),
                                      headers={"Authorization": f"Bearer {user_token}"})
    assert response.status_code == 502 and response.json["error"]["code"] == "upstream_unreachable"


def test_no_token_at_all_is_401_saying_how_to_send_one(make_app):
    app = make_app(kimi_token="")
    response = app.test_client().post("/v1/chat/completions", data=chat_body())
    assert response.status_code == 401
    assert "`access_token` and `refresh_token` from www.kimi.com's Local Storage" in response.json["error"]["message"]


def test_body_over_the_limit_is_413_in_openai_shape(make_app, user_token):
    app = make_app(max_body_mb=0.001)
    response = app.test_client().post("/v1/chat/completions", data=b"x" * 5000,
                                      headers={"Authorization": f"Bearer {user_token}"})
    assert response.status_code == 413 and response.json["error"]["type"] == "invalid_request_error"


def _nested_schema(levels):
    schema = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


DEEP = _nested_schema(225)  # 450 levels: orjson parses it, but our recursive code must never see it
DEEP_BODIES = {  # (path, body)
    "openai": ("/v1/chat/completions", {"model": "kimi-latest", "messages": USER_MESSAGES, "tools": [
        {"type": "function", "function": {"name": "f", "parameters": DEEP}}]}),
    "anthropic": ("/v1/messages", {"model": "kimi-latest", "max_tokens": 5, "messages": USER_MESSAGES,
                                   "tools": [{"name": "f", "input_schema": DEEP}]}),
    "gemini": ("/v1beta/models/kimi-latest:generateContent", {"contents": [{"parts": [{"text": "hi"}]}],
               "tools": [{"functionDeclarations": [{"name": "f", "parameters": DEEP}]}]}),
    "responses": ("/v1/responses", {"model": "kimi-latest", "input": "hi", "tools": [
        {"type": "function", "name": "f", "parameters": DEEP}]}),
}
DEEP_MESSAGE = "The request body nests objects and arrays more than 100 levels deep."


@pytest.mark.parametrize("api", DEEP_BODIES)
def test_deeply_nested_json_is_400_in_each_format_and_logs_no_traceback(gateway, user_token, kimi, api):
    path, body = DEEP_BODIES[api]
    response = requests.post(gateway.url + path, data=json.dumps(body), timeout=15,
                             headers={"Authorization": f"Bearer {user_token}", "x-goog-api-key": user_token,
                                      "anthropic-version": "2023-06-01", "Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    kind = error["status"] if api == "gemini" else error["type"]
    assert (kind, error["message"]) == ("INVALID_ARGUMENT" if api == "gemini" else "invalid_request_error", DEEP_MESSAGE)
    assert kimi.requests == [] and "Traceback" not in gateway.log_text()


@pytest.mark.parametrize("levels", [101, 2000])  # past our limit, and past orjson's own (1024)
def test_deeply_nested_tool_arguments_text_is_400_naming_the_field(gateway, user_token, kimi, levels):
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "[" * levels + "]" * levels}}
    body = {"model": "kimi-latest", "messages": [*USER_MESSAGES, {"role": "assistant", "tool_calls": [call]},
                                                 {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]}
    response = post(gateway, user_token, orjson.dumps(body))
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "`messages[1].tool_calls[0].function.arguments` nests more than 100 levels deep.",
        "type": "invalid_request_error", "param": "messages[1].tool_calls[0].function.arguments", "code": None}
    assert kimi.requests == []
