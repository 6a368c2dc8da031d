"""The Anthropic API end to end: gunicorn + gevent worker, the fake Kimi upstream, the official SDK."""
import anthropic
import orjson
import pytest
import requests

from tests.support.fixture_streams import ANSWER_TEXT, PLAIN_CHAT_ID, PLAIN_TEXT, THINK_TEXT

MODEL = "claude-sonnet-4-6"
USER = [{"role": "user", "content": "Focus tip?"}]


@pytest.fixture
def client(anthropic_client):
    return anthropic_client  # conftest's, under the short name every test here uses


def post_messages(gateway, user_token, body, **kwargs):
    return requests.post(gateway.url + "/v1/messages", timeout=15, data=orjson.dumps(body),
                         headers={"x-api-key": user_token, "anthropic-version": "2023-06-01",
                                  "content-type": "application/json"}, **kwargs)


def sse_frames(raw: str):
    """(event name, data) pairs, checking each frame is exactly `event:` then `data:` lines."""
    frames = raw.split("\n\n")
    assert frames[-1] == ""
    pairs = []
    for frame in frames[:-1]:
        name_line, data_line = frame.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        pairs.append((name_line[7:], orjson.loads(data_line[6:])))
    return pairs


def test_create_returns_the_answer_with_model_usage_and_conversation_id(kimi, client):
    kimi.replay("plain_text.jsonl")
    reply = client.messages.create(model=MODEL, max_tokens=1024, messages=USER)
    assert reply.id.startswith("msg_") and reply.type == "message" and reply.role == "assistant"
    assert [(block.type, block.text) for block in reply.content] == [("text", PLAIN_TEXT)]
    assert (reply.model, reply.stop_reason, reply.stop_sequence) == (MODEL, "end_turn", None)
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert (reply.usage.cache_creation_input_tokens, reply.usage.cache_read_input_tokens) == (0, 0)
    assert reply.to_dict()["conversation_id"] == PLAIN_CHAT_ID


def test_stream_text_and_final_message(kimi, client):
    kimi.replay("plain_text.jsonl", split=7)
    with client.messages.stream(model=MODEL, max_tokens=1024, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == PLAIN_TEXT
    assert [(block.type, block.text) for block in final.content] == [("text", PLAIN_TEXT)]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 1


def test_thinking_enabled_gives_a_thinking_block_before_the_text(kimi, client):
    kimi.replay("thinking.jsonl")
    with client.messages.stream(model=MODEL, max_tokens=4096, messages=[{"role": "user", "content": "221?"}],
                                thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == THINK_TEXT and final.content[0].signature
    assert final.content[1].text == ANSWER_TEXT
    assert kimi.requests[-1].body["options"] == {"thinking": True}


def test_thinking_disabled_turns_off_a_thinking_model(kimi, client):
    reply = client.messages.create(model="kimi-k2.5-thinking", max_tokens=100, thinking={"type": "disabled"},
                                   messages=[{"role": "user", "content": "plain"}])
    assert [(block.type, block.text) for block in reply.content] == [("text", "plain")]
    assert kimi.requests[-1].body["options"] == {"thinking": False}


def test_replayed_thinking_is_dropped_and_tool_blocks_reach_kimi_folded(kimi, client):
    client.messages.create(model=MODEL, max_tokens=100, system=[{"type": "text", "text": "Be brief."}], messages=[
        {"role": "user", "content": "List files"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "use ls", "signature": "kimi-msg_1"},
            {"type": "tool_use", "id": "tu_1", "name": "Bash", "input": {"command": "ls"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "a.txt"}]}])
    assert kimi.requests[-1].body["message"]["blocks"][0]["text"]["content"] == (
        "[System instructions]\nBe brief.\n\n"
        "[Conversation so far]\nUser: List files\n\n"
        'Assistant: <tool_call>{"name": "Bash", "arguments": {"command": "ls"}}</tool_call>\n\n'
        "[Newest message from the user — answer this one]\nTool result: [Bash (call tu_1)] a.txt")


def test_count_tokens_counts_tools_without_a_token_or_upstream_call(kimi, gateway):
    tools = [{"name": "Bash", "description": "Run a shell command and return its output. " * 10,
              "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}]
    with anthropic.Anthropic(base_url=gateway.url, api_key="not-a-kimi-token", max_retries=0) as client:
        plain = client.messages.count_tokens(model=MODEL, messages=USER)
        with_tools = client.messages.count_tokens(model=MODEL, messages=USER, tools=tools)
    assert plain.input_tokens > 0 and with_tools.input_tokens > plain.input_tokens + 100
    assert kimi.requests == []


def test_max_tokens_one_probe_is_cut_with_max_tokens(kimi, client):
    kimi.replay("plain_text.jsonl")
    reply = client.messages.create(model=MODEL, max_tokens=1, messages=[{"role": "user", "content": "quota"}])
    assert reply.stop_reason == "max_tokens"
    assert reply.content[0].text and PLAIN_TEXT.startswith(reply.content[0].text)
    assert reply.usage.output_tokens >= 1


def test_stop_sequences_cut_the_answer(kimi, client):
    kimi.replay("plain_text.jsonl", split=5)
    reply = client.messages.create(model=MODEL, max_tokens=1024, messages=USER, stop_sequences=["free of"])
    assert reply.content[0].text == "Set up a dedicated workspace and keep it "
    assert (reply.stop_reason, reply.stop_sequence) == ("stop_sequence", "free of")


def test_beta_messages_create_with_query_flag(kimi, client):
    kimi.replay("plain_text.jsonl")
    reply = client.beta.messages.create(model=MODEL, max_tokens=100, messages=USER,
                                        betas=["interleaved-thinking-2025-05-14"])
    assert reply.content[0].text == PLAIN_TEXT and reply.stop_reason == "end_turn"


def test_bearer_token_is_accepted_like_x_api_key(kimi, gateway, user_token):
    with anthropic.Anthropic(base_url=gateway.url, auth_token=user_token, max_retries=0) as client:
        client.messages.create(model=MODEL, max_tokens=10, messages=USER)
    assert kimi.requests[-1].headers["Authorization"] == f"Bearer {user_token}"


@pytest.mark.parametrize("script, sdk_error, status, error_type", [
    (lambda kimi: kimi.replay("error_unauthenticated.jsonl"), anthropic.AuthenticationError, 401,
     "authentication_error"),
    (lambda kimi: kimi.replay("error_resource_exhausted.jsonl"), anthropic.RateLimitError, 429,
     "rate_limit_error"),
    (lambda kimi: kimi.replay("error_paywall.jsonl"), anthropic.PaymentRequiredError, 402, "billing_error"),
    (lambda kimi: kimi.http_error(429), anthropic.RateLimitError, 429, "rate_limit_error"),
    (lambda kimi: kimi.http_error(500), anthropic.InternalServerError, 502, "api_error"),
])
def test_upstream_errors_raise_the_sdk_exception_for_their_status(kimi, client, script, sdk_error, status,
                                                                  error_type):
    script(kimi)
    with pytest.raises(sdk_error) as caught:
        client.messages.create(model=MODEL, max_tokens=100, messages=USER, stream=True)
    assert caught.value.status_code == status
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == error_type


def test_the_refusal_of_free_accounts_is_429_with_retry_after(kimi, gateway, user_token):
    kimi.replay("error_resource_exhausted.jsonl")
    response = post_messages(gateway, user_token, {"model": MODEL, "max_tokens": 10, "messages": USER})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert response.json() == {"type": "error", "error": {
        "type": "rate_limit_error", "message": "Kimi: Kimi is busy at the moment. Please try again in a little while."}}


def test_invalid_body_is_bad_request_naming_the_field(kimi, client):
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model=MODEL, max_tokens=0, messages=USER)
    assert caught.value.status_code == 400 and "`max_tokens`" in caught.value.body["error"]["message"]
    assert caught.value.body["error"]["type"] == "invalid_request_error" and kimi.requests == []


def test_error_after_streaming_began_raises_in_the_sdk(kimi, client):
    kimi.replay("error_after_done.jsonl")
    received = []
    with pytest.raises(anthropic.APIStatusError, match="Please sign in"):
        with client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert "".join(received) == "Owls can turn their heads"


def test_sse_wire_format_is_exact(kimi, gateway, user_token):
    kimi.replay("plain_text.jsonl")
    with post_messages(gateway, user_token, {"model": MODEL, "max_tokens": 1024, "stream": True,
                                             "messages": USER}, stream=True) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["X-Conversation-Id"] == PLAIN_CHAT_ID
        pairs = sse_frames(response.content.decode())
    names = [name for name, _ in pairs]
    deltas = names.count("content_block_delta")
    assert deltas > 1 and names == ["message_start", "content_block_start", "ping"] + \
        ["content_block_delta"] * deltas + ["content_block_stop", "message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in pairs)
    message = pairs[0][1]["message"]
    assert message == {"id": message["id"], "type": "message", "role": "assistant", "model": MODEL,
                       "content": [], "stop_reason": None, "stop_sequence": None,
                       "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1,
                                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
                       "conversation_id": PLAIN_CHAT_ID}
    assert pairs[1][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert {data["delta"]["type"] for _, data in pairs[3:-3]} == {"text_delta"}
    assert "".join(data["delta"]["text"] for _, data in pairs[3:-3]) == PLAIN_TEXT
    assert pairs[-3][1] == {"type": "content_block_stop", "index": 0}
    assert pairs[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert pairs[-1][1] == {"type": "message_stop"}


def test_error_after_streaming_began_is_an_error_event_on_the_wire(kimi, gateway, user_token):
    kimi.replay("error_after_done.jsonl")
    response = post_messages(gateway, user_token, {"model": MODEL, "max_tokens": 100, "stream": True,
                                                   "messages": USER})
    assert response.status_code == 200
    assert sse_frames(response.content.decode())[-1] == ("error", {"type": "error", "error": {
        "type": "authentication_error", "message": "Kimi: Please sign in to keep chatting."}})


def test_models_list_and_retrieve_in_anthropic_shape(gateway, client):
    models = list(client.models.list())
    assert "kimi-k2.5-thinking" in [model.id for model in models]
    assert {(model.type, model.created_at.year) for model in models} == {("model", 2026)}
    model = client.models.retrieve("kimi-k2.6")
    assert (model.id, model.display_name) == ("kimi-k2.6", "Kimi K2.6, quick answers")
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert caught.value.body == {"type": "error", "error": {
        "type": "not_found_error", "message": "The model `no-such-model` does not exist."}}


def test_conversation_header_is_returned_and_continues_the_chat(kimi, client):
    first = client.messages.with_raw_response.create(model=MODEL, max_tokens=100,
                                                     messages=[{"role": "user", "content": "one"}])
    chat_id = first.headers["X-Conversation-Id"]
    client.messages.create(model=MODEL, max_tokens=100, extra_headers={"X-Conversation-Id": chat_id},
                           messages=[{"role": "user", "content": "two"}])
    assert first.parse().to_dict()["conversation_id"] == chat_id
    assert kimi.requests[-1].body["chat_id"] == chat_id
    assert [turn["user_text"] for turn in kimi.chats[chat_id]] == ["one", "two"]


def test_conversation_id_in_the_body_sends_only_the_newest_turn(kimi, client):
    first = client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "I am Sari."}])
    chat_id = first.to_dict()["conversation_id"]
    client.messages.create(model=MODEL, max_tokens=100, extra_body={"conversation_id": chat_id}, messages=[
        {"role": "user", "content": "I am Sari."}, {"role": "assistant", "content": first.content[0].text},
        {"role": "user", "content": "Who am I?"}])
    sent = kimi.requests[-1].body
    assert sent["chat_id"] == chat_id and sent["message"]["blocks"][0]["text"]["content"] == "Who am I?"


def test_unknown_route_and_wrong_method_answer_in_anthropic_shape(gateway):
    missing = requests.post(gateway.url + "/v1/messages/nothing", timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    wrong = requests.get(gateway.url + "/v1/messages", timeout=5)
    assert wrong.status_code == 405 and wrong.json()["type"] == "error"


def test_client_disconnect_closes_the_upstream_stream(kimi, gateway, user_token):
    kimi.long_answer(n_frames=2000, delay=0.01)
    with post_messages(gateway, user_token, {"model": MODEL, "max_tokens": 100000, "stream": True,
                                             "messages": USER}, stream=True) as response:
        assert next(response.iter_lines()).startswith(b"event: message_start")
        assert kimi.open_streams == 1
    assert kimi.wait_for(lambda: kimi.open_streams == 0, timeout=10)
