"""The Gemini API end to end: gunicorn + gevent worker, the fake Kimi upstream, the official google-genai SDK."""
import re

import orjson
import pydantic
import pytest
import requests
from google.genai import errors, types

from kimi.usage import estimate_tokens
from tests.support.fixture_streams import ANSWER_TEXT, PLAIN_CHAT_ID, PLAIN_TEXT, THINK_TEXT, load_frames

MODEL = "gemini-2.5-flash"
USER = {"contents": [{"role": "user", "parts": [{"text": "Focus tip?"}]}]}


@pytest.fixture
def client(gemini_client):
    return gemini_client  # conftest's, under the short name every test here uses


def post(gateway, path, body=USER, headers=None, **kwargs):
    return requests.post(gateway.url + path, data=orjson.dumps(body), timeout=15,
                         headers={"content-type": "application/json", **(headers or {})}, **kwargs)


def answer_frames(pieces):
    """plain_text.jsonl with its answer replaced by `pieces` (one text frame each)."""
    frames = load_frames("plain_text.jsonl")
    block = {"id": "1_0", "messageId": "19b3f0a2-6c53-8b72-8000-2d9e4f6a8b32"}
    texts = [(0, {"op": "set" if i == 0 else "append", "mask": "block.text" if i == 0 else "block.text.content",
                  "eventOffset": 4 + i, "block": {**block, "text": {"content": piece}}})
             for i, piece in enumerate(pieces)]
    return frames[:4] + texts + frames[-4:]


def sent_prompt(kimi):
    return kimi.requests[-1].body["message"]["blocks"][0]["text"]["content"]


def test_generate_content_returns_the_answer_with_ids_and_usage(kimi, client):
    kimi.replay("plain_text.jsonl")
    reply = client.models.generate_content(model=MODEL, contents="Focus tip?")
    assert reply.text == PLAIN_TEXT
    assert re.fullmatch(r"[0-9a-f]{32}", reply.response_id) and reply.model_version == MODEL
    assert reply.candidates[0].finish_reason == types.FinishReason.STOP and reply.candidates[0].index == 0
    usage = reply.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0 and usage.thoughts_token_count is None
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert reply.sdk_http_response.headers["x-conversation-id"] == PLAIN_CHAT_ID


def test_stop_sequences_end_the_stream_and_release_kimi(kimi, client):
    kimi.long_answer(n_frames=1000, delay=0.02)  # "word0 word1 …" for 20 s, unless the stop ends it
    # The timeout (ms) fails a gateway that reads on to the end before it finishes the stream.
    config = types.GenerateContentConfig(stop_sequences=["word3"], http_options=types.HttpOptions(timeout=5000))
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Count", config=config))
    assert "".join(chunk.text or "" for chunk in chunks) == "word0 word1 word2 "
    assert [chunk.candidates[0].finish_reason for chunk in chunks if chunk.candidates[0].finish_reason] == [
        types.FinishReason.STOP]
    assert kimi.wait_for(lambda: kimi.open_streams == 0)


def test_stream_delivers_each_delta_then_finish_and_usage(kimi, client):
    kimi.replay("plain_text.jsonl")
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Focus tip?"))
    assert "".join(chunk.text or "" for chunk in chunks) == PLAIN_TEXT
    assert len(chunks) == 11  # ten text frames in the fixture, then the closing chunk
    assert [chunk.candidates[0].finish_reason for chunk in chunks].count(types.FinishReason.STOP) == 1
    assert chunks[-1].usage_metadata.candidates_token_count > 0 and chunks[0].usage_metadata is None


@pytest.mark.parametrize("stream", [False, True])
def test_include_thoughts_returns_thought_parts_before_the_text(kimi, client, stream):
    kimi.replay("thinking.jsonl")
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    if stream:
        replies = list(client.models.generate_content_stream(model=MODEL, contents="Is 221 prime?", config=config))
    else:
        replies = [client.models.generate_content(model=MODEL, contents="Is 221 prime?", config=config)]
    parts = [part for reply in replies for part in reply.candidates[0].content.parts if part.text]
    assert "".join(p.text for p in parts if p.thought) == THINK_TEXT
    assert "".join(p.text for p in parts if not p.thought) == ANSWER_TEXT
    assert parts[0].thought is True and parts[-1].thought is None
    assert replies[-1].usage_metadata.thoughts_token_count > 0
    assert kimi.requests[-1].body["options"] == {"thinking": True}


def test_thinking_budget_zero_turns_thinking_off_for_a_thinking_model(kimi, client):
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0))
    client.models.generate_content(model="gemini-2.5-pro", contents="x", config=config)
    assert kimi.requests[-1].body["options"] == {"thinking": False}


def test_system_instruction_and_history_are_folded(kimi, client):
    config = types.GenerateContentConfig(system_instruction="Be brief.")
    contents = [types.Content(role="user", parts=[types.Part(text="Name a colour.")]),
                types.Content(role="model", parts=[types.Part(text="Blue.")]),
                types.Content(role="user", parts=[types.Part(text="Another one?")])]
    client.models.generate_content(model=MODEL, contents=contents, config=config)
    assert sent_prompt(kimi) == (
        "[System instructions]\nBe brief.\n\n"
        "[Conversation so far]\nUser: Name a colour.\n\nAssistant: Blue.\n\n"
        "[Newest message from the user — answer this one]\nAnother one?")


class Person(pydantic.BaseModel):
    name: str
    age: int


def test_json_mode_strips_fences_and_the_sdk_parses_the_schema(kimi, client):
    kimi.frames(answer_frames(['```json\n{"name": "Sari",', ' "age": 30}\n```']))
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=Person)
    reply = client.models.generate_content(model=MODEL, contents="Who?", config=config)
    assert reply.text == '{"name": "Sari", "age": 30}'
    assert reply.parsed == Person(name="Sari", age=30)
    assert "Answer with JSON only" in sent_prompt(kimi) and '"age"' in sent_prompt(kimi)


def test_json_mode_answer_breaking_the_schema_is_a_502(kimi, client):
    kimi.frames(answer_frames(['{"name": "Sari"}']))
    config = types.GenerateContentConfig(response_mime_type="application/json", response_json_schema={
        "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"]})
    with pytest.raises(errors.ServerError) as caught:
        client.models.generate_content(model=MODEL, contents="Who?", config=config)
    assert (caught.value.code, caught.value.status) == (502, "INTERNAL")
    assert caught.value.message == "Kimi's JSON answer does not match the response schema: $.age is required."


def test_count_tokens_estimates_without_calling_kimi(kimi, client):
    reply = client.models.count_tokens(model=MODEL, contents="Hello there, how are you today?")
    assert reply.total_tokens == estimate_tokens("Hello there, how are you today?")
    assert kimi.requests == []


def test_models_list_and_get_in_googles_shape(gateway, client):
    models = {model.name: model for model in client.models.list()}
    assert {"models/kimi-k2.5-instant", "models/kimi-k2.5-thinking", "models/kimi-k2.6"} <= set(models)
    model = client.models.get(model="kimi-k2.5-thinking")
    assert (model.name, model.display_name, model.description) == (
        "models/kimi-k2.5-thinking", "kimi-k2.5-thinking", "Kimi K2.5 with visible reasoning")
    assert model.supported_actions == ["generateContent", "streamGenerateContent", "countTokens"]
    assert model.input_token_limit > model.output_token_limit > 0 and model.thinking is True
    with pytest.raises(errors.ClientError) as caught:
        client.models.get(model="no-such-model")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


@pytest.mark.parametrize("fixture, code, status", [
    ("error_unauthenticated.jsonl", 401, "UNAUTHENTICATED"),
    ("error_resource_exhausted.jsonl", 429, "RESOURCE_EXHAUSTED"),
    ("error_paywall.jsonl", 402, "PERMISSION_DENIED"),
])
def test_upstream_errors_before_content_are_client_errors(kimi, client, fixture, code, status):
    kimi.replay(fixture)
    with pytest.raises(errors.ClientError) as caught:
        list(client.models.generate_content_stream(model=MODEL, contents="x"))
    assert (caught.value.code, caught.value.status) == (code, status)


def test_upstream_5xx_is_a_server_error_saying_unavailable(kimi, client):
    kimi.http_error(503)
    with pytest.raises(errors.ServerError) as caught:
        client.models.generate_content(model=MODEL, contents="x")
    assert (caught.value.code, caught.value.status) == (502, "UNAVAILABLE")


def test_error_after_done_raises_in_the_sdk_stream(kimi, client):
    kimi.replay("error_after_done.jsonl")
    received = []
    with pytest.raises(errors.ClientError, match="Please sign in") as caught:
        for chunk in client.models.generate_content_stream(model=MODEL, contents="x"):
            received.append(chunk.text)
    assert "".join(received) == "Owls can turn their heads" and caught.value.code == 401


def test_sse_wire_format_is_exact(kimi, gateway, user_token):
    kimi.replay("plain_text.jsonl")
    response = post(gateway, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
                    headers={"x-goog-api-key": user_token})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["X-Conversation-Id"] == PLAIN_CHAT_ID
    events = response.content.decode().split("\n\n")
    assert events[-1] == "" and all(e.startswith("data: {") and "\n" not in e for e in events[:-1])
    response_id = orjson.loads(events[0][6:])["responseId"]
    assert orjson.loads(events[0][6:]) == {
        "candidates": [{"content": {"parts": [{"text": "Set up"}], "role": "model"}, "index": 0}],
        "modelVersion": MODEL, "responseId": response_id}
    assert {orjson.loads(event[6:])["responseId"] for event in events[:-1]} == {response_id}
    last = orjson.loads(events[-2][6:])
    assert last["candidates"] == [{"content": {"parts": [{"text": ""}], "role": "model"},
                                   "finishReason": "STOP", "index": 0}]
    assert last["conversation_id"] == PLAIN_CHAT_ID and last["usageMetadata"]["totalTokenCount"] > 0


def test_json_array_wire_format_is_exact(kimi, gateway, user_token):
    kimi.replay("plain_text.jsonl")
    response = post(gateway, f"/v1beta/models/{MODEL}:streamGenerateContent", headers={"x-goog-api-key": user_token})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    body = response.content
    first = {"candidates": [{"content": {"parts": [{"text": "Set up"}], "role": "model"}, "index": 0}],
             "modelVersion": MODEL, "responseId": orjson.loads(body)[0]["responseId"]}
    assert body.startswith(b"[" + orjson.dumps(first, option=orjson.OPT_INDENT_2) + b"\n,\r\n{\n")
    assert body.endswith(b"\n}\n]") and body.count(b"\n,\r\n") == 10
    elements = orjson.loads(body)
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in elements) == PLAIN_TEXT
    assert elements[-1]["candidates"][0]["finishReason"] == "STOP"


def test_json_array_stream_ends_with_an_error_element_then_closes(kimi, gateway, user_token):
    kimi.replay("error_after_done.jsonl")
    response = post(gateway, "/v1/models/kimi-latest:streamGenerateContent", headers={"x-goog-api-key": user_token})
    assert response.status_code == 200 and response.content.endswith(b"}\n]")
    elements = orjson.loads(response.content)
    assert elements[-1] == {"error": {"code": 401, "message": "Kimi: Please sign in to keep chatting.",
                                      "status": "UNAUTHENTICATED"}}
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in elements[:-1]] == [
        "Owls can turn", " their heads"]


@pytest.mark.parametrize("path, headers", [
    ("?key={user}", {}),
    ("", {"Authorization": "Bearer {user}"}),
    ("?key={user}", {"x-goog-api-key": ""}),
])
def test_key_from_query_or_bearer_is_the_kimi_token(kimi, gateway, user_token, path, headers):
    headers = {name: value.format(user=user_token) for name, value in headers.items()}
    response = post(gateway, f"/v1beta/models/{MODEL}:generateContent" + path.format(user=user_token),
                    headers=headers)
    assert response.status_code == 200 and response.json()["candidates"][0]["content"]["parts"] == [
        {"text": "Focus tip?"}]
    assert kimi.requests[-1].headers["Authorization"] == f"Bearer {user_token}"


def test_empty_api_key_header_falls_back_to_the_server_token(kimi, gateway, server_token):
    response = post(gateway, f"/v1beta/models/{MODEL}:generateContent", headers={"x-goog-api-key": ""})
    assert response.status_code == 200
    assert kimi.requests[-1].headers["Authorization"] == f"Bearer {server_token}"


def test_conversation_continues_from_header_or_body_field(kimi, gateway, user_token):
    auth = {"x-goog-api-key": user_token}
    first = post(gateway, f"/v1/models/{MODEL}:generateContent", headers=auth)
    chat_id = first.headers["X-Conversation-Id"]
    assert first.json()["conversation_id"] == chat_id != first.json()["responseId"]
    post(gateway, f"/v1/models/{MODEL}:generateContent", headers={**auth, "X-Conversation-Id": chat_id},
         body={"contents": [{"role": "user", "parts": [{"text": "two"}]}]})
    post(gateway, f"/v1/models/{MODEL}:generateContent", headers=auth,
         body={"contents": [{"role": "user", "parts": [{"text": "three"}]}], "conversation_id": chat_id})
    assert kimi.requests[-1].body["chat_id"] == chat_id
    assert [turn["user_text"] for turn in kimi.chats[chat_id]] == ["Focus tip?", "two", "three"]


def test_embed_content_is_unimplemented_in_googles_shape(gateway, client):
    with pytest.raises(errors.ServerError) as caught:
        client.models.embed_content(model="text-embedding-004", contents="hello")
    assert (caught.value.code, caught.value.status) == (501, "UNIMPLEMENTED")
    assert "Embeddings are not available" in caught.value.message


def test_bad_request_is_400_invalid_argument(gateway, user_token):
    response = post(gateway, f"/v1beta/models/{MODEL}:generateContent", body={"contents": []},
                    headers={"x-goog-api-key": user_token})
    assert response.status_code == 400
    assert response.json() == {"error": {"code": 400, "message": "`contents` must be a non-empty array.",
                                         "status": "INVALID_ARGUMENT"}}


def test_v1_models_stays_openai_while_v1_model_methods_are_gemini(gateway, user_token):
    listing = requests.get(gateway.url + "/v1/models", timeout=5).json()
    assert listing["object"] == "list" and listing["data"][0]["object"] == "model"
    missing = post(gateway, "/v1/models/x:nothing", headers={"x-goog-api-key": user_token})
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    wrong = requests.delete(gateway.url + f"/v1beta/models/{MODEL}:generateContent", timeout=5)
    assert wrong.status_code == 405 and wrong.json()["error"]["status"] == "UNIMPLEMENTED"
