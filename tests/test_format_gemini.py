"""Pure translation tests for blueprints/formats/gemini.py and json_schema.py: parsing, rendering, errors."""
import orjson
import pytest

from blueprints.formats import gemini as fmt
from blueprints.formats import json_schema
from kimi.errors import (AuthRejected, BadRequest, KimiError, NotFound, PayloadTooLarge, PaymentRequired,
                         PermissionDenied, ProtocolError, RateLimited, UpstreamTimeout, UpstreamUnavailable)
from blueprints.formats.common import STREAM_FAILURE
from kimi.events import (Attachment, ChatRequest, Citations, Finished, Message, Source, TextDelta, ThinkingDelta,
                         ToolCall)
from gateway.filters import stop_at_sequences
from gateway.reply import apply_filters
from kimi.usage import estimate_tokens

USER = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
SCHEMA = {"type": "OBJECT", "properties": {"name": {"type": "STRING"}, "age": {"type": "INTEGER"}},
          "required": ["name"]}


class FakeEvents:
    """What the renderers iterate: events plus the attributes ChatStream offers."""

    def __init__(self, events, chat_id="chat-1", fail_with=None):
        self._events, self._fail_with = events, fail_with
        self.chat_id, self.prompt_tokens, self.closed, self.consumed = chat_id, 7, False, 0
        self.reply_key = "5f1c0de05f1c0de05f1c0de05f1c0de0"  # the turn's key the reply ids are spelt around

    def __iter__(self):
        for event in self._events:
            self.consumed += 1
            yield event
        if self._fail_with:
            raise self._fail_with

    def close(self):
        self.closed = True


def request(body=None, model="gemini-2.5-flash", stream=True):
    return fmt.parse_request({**USER, **(body or {})}, model, stream=stream)


def stopping(events, gemini):
    """What the renderer reads: the request's stop sequences applied, as blueprints/upstream.py does."""
    return apply_filters(events, [stop_at_sequences(gemini.chat.stop)])


def sse_elements(raw: bytes):
    events = raw.decode().split("\n\n")
    assert events[-1] == "" and all(e.startswith("data: ") and "\n" not in e for e in events[:-1])
    return [orjson.loads(e[6:]) for e in events[:-1]]


def element(parts, model="gemini-2.5-flash"):
    return {"candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0}],
            "modelVersion": model, "responseId": "5f1c0de05f1c0de05f1c0de05f1c0de0"}


def test_parse_request_reads_system_contents_roles_and_generation_config():
    gemini = fmt.parse_request({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                     {"role": "model", "parts": [{"text": "old thought", "thought": True}, {"text": "c"}]},
                     {"parts": [{"text": "d"}]}],
        "generationConfig": {"maxOutputTokens": 50, "stopSequences": ["END", ""], "temperature": 0.2},
        "conversation_id": "c1"}, "gemini-2.5-pro", stream=True)
    assert gemini == fmt.GeminiRequest(ChatRequest(
        model="gemini-2.5-pro", stream=True, conversation_id="c1", max_tokens=50, stop=["END"],
        messages=[Message("system", "Be brief."), Message("user", "a\nb"), Message("assistant", "c"),
                  Message("user", "d")]))


def test_parse_request_accepts_snake_case_fields_as_the_rest_api_does():
    gemini = fmt.parse_request({"system_instruction": {"parts": [{"text": "S"}]}, **USER,
                                "generation_config": {"max_output_tokens": 9,
                                                      "thinking_config": {"include_thoughts": True}}}, "m")
    assert gemini.chat.messages[0] == Message("system", "S")
    assert (gemini.chat.max_tokens, gemini.chat.thinking, gemini.include_thoughts) == (9, True, True)


@pytest.mark.parametrize("part, message", [
    ({"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
     Message("user", "see:", (Attachment("data:image/png;base64,iVBO"),))),
    ({"file_data": {"mime_type": "image/jpeg", "file_uri": "gs://x"}}, Message("user", "see:\n[image omitted]")),
    ({"fileData": {"mimeType": "application/pdf", "fileUri": "https://x/doc"}},
     Message("user", "see:", (Attachment("https://x/doc", "file"),))),
    ({"functionCall": {"id": "c1", "name": "ls", "args": {"dir": "."}}},
     Message("user", "see:", tool_calls=(ToolCall("c1", "ls", '{"dir": "."}'),))),
])
def test_media_and_function_call_parts_become_attachments_and_calls(part, message):
    gemini = fmt.parse_request({"contents": [{"role": "user", "parts": [{"text": "see:"}, part]}]}, "m")
    assert gemini.chat.messages == [message]


def test_function_responses_become_tool_messages_before_the_turns_text():
    part = {"functionResponse": {"id": "c1", "name": "ls", "response": {"files": []}}}
    gemini = fmt.parse_request({"contents": [{"role": "user", "parts": [{"text": "and?"}, part]}]}, "m")
    assert gemini.chat.messages == [Message("tool", '{"files":[]}', tool_call_id="c1", name="ls"),
                                    Message("user", "and?")]


@pytest.mark.parametrize("body, param", [
    ([], None),
    ({}, "contents"),
    ({"contents": []}, "contents"),
    ({"contents": ["hi"]}, "contents[0]"),
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    ({"contents": [{"role": "user"}]}, "contents[0].parts"),
    ({"contents": [{"role": "user", "parts": ["x"]}]}, "contents[0].parts[0]"),
    ({"contents": [{"role": "user", "parts": [{"text": 3}]}]}, "contents[0].parts[0].text"),
    ({**USER, "systemInstruction": 5}, "systemInstruction"),
    ({**USER, "systemInstruction": {"parts": "x"}}, "systemInstruction.parts"),
    ({**USER, "generationConfig": []}, "generationConfig"),
    ({**USER, "generationConfig": {"maxOutputTokens": True}}, "generationConfig.maxOutputTokens"),
    ({**USER, "generationConfig": {"stopSequences": "END"}}, "generationConfig.stopSequences"),
    ({**USER, "generationConfig": {"stopSequences": [1]}}, "generationConfig.stopSequences"),
    ({**USER, "generationConfig": {"thinkingConfig": {"thinkingBudget": "0"}}},
     "generationConfig.thinkingConfig.thinkingBudget"),
    ({**USER, "conversation_id": 5}, "conversation_id"),
])
def test_parse_request_rejects_malformed_bodies_naming_the_field(body, param):
    with pytest.raises(BadRequest) as caught:
        fmt.parse_request(body, "m")
    assert caught.value.param == param


@pytest.mark.parametrize("thinking_config, thinking, include_thoughts", [
    (None, None, False),
    ({"includeThoughts": True}, True, True),
    ({"thinkingBudget": 0}, False, False),
    ({"thinkingBudget": 0, "includeThoughts": True}, False, False),
    ({"thinkingBudget": 1024}, None, False),
    ({"thinkingBudget": -1, "includeThoughts": False}, None, False),
])
def test_thinking_config_decides_thinking_and_returned_thoughts(thinking_config, thinking, include_thoughts):
    config = {"thinkingConfig": thinking_config} if thinking_config else {}
    gemini = request({"generationConfig": config})
    assert (gemini.chat.thinking, gemini.include_thoughts) == (thinking, include_thoughts)


def test_json_mode_asks_kimi_for_json_matching_the_schema():
    gemini = request({"generationConfig": {"responseMimeType": "application/json", "responseSchema": SCHEMA}})
    assert gemini.is_json and gemini.schema == SCHEMA
    # The instruction rides with the newest user turn, so a continued chat (which gets only the newest
    # turns) still receives it.
    newest = gemini.chat.messages[-1]
    assert newest.role == "user" and newest.text == "hi\n\n" + (
        "Answer with JSON only: no prose before or after it, and no Markdown code fences. The JSON must "
        "conform to this JSON Schema:\n" + orjson.dumps(SCHEMA).decode())


def test_json_mode_instruction_follows_a_function_response_as_its_own_turn():
    body = {"contents": [{"role": "user", "parts": [{"text": "q"}]},
                         {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                         {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": 1}}}]}],
            "generationConfig": {"responseMimeType": "application/json"}}
    gemini = fmt.parse_request(body, "gemini-2.5-flash", stream=False)
    assert gemini.chat.messages[-2].role == "tool"
    assert gemini.chat.messages[-1] == Message("user", "Answer with JSON only: no prose before or after it, "
                                                       "and no Markdown code fences.")


def test_sse_stream_sends_thoughts_then_text_then_finish_with_usage():
    gemini = request({"generationConfig": {"thinkingConfig": {"includeThoughts": True}}})
    events = FakeEvents([ThinkingDelta("hmm"), TextDelta("Hi"), TextDelta(" there"), Finished("stop")])
    out = sse_elements(b"".join(fmt.stream_sse(events, gemini)))
    assert out[:3] == [element([{"text": "hmm", "thought": True}]), element([{"text": "Hi"}]),
                       element([{"text": " there"}])]
    assert out[3] == {"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"},
                                      "finishReason": "STOP", "index": 0}],
                      "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 2, "totalTokenCount": 10,
                                        "thoughtsTokenCount": 1},
                      "modelVersion": "gemini-2.5-flash", "responseId": "5f1c0de05f1c0de05f1c0de05f1c0de0", "conversation_id": "chat-1"}
    assert len(out) == 4 and events.closed


def test_thoughts_are_hidden_unless_asked_for_but_still_counted():
    events = FakeEvents([ThinkingDelta("hmm"), TextDelta("Hi"), Finished("length")])
    out = sse_elements(b"".join(fmt.stream_sse(events, request())))
    assert out[0] == element([{"text": "Hi"}])
    assert out[1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert out[1]["usageMetadata"]["thoughtsTokenCount"] == 1


def test_json_array_stream_is_framed_as_google_frames_it():
    events = FakeEvents([TextDelta('Hi "you"'), Finished("stop")])
    raw = b"".join(fmt.stream_array(events, request()))
    first = orjson.dumps(element([{"text": 'Hi "you"'}]), option=orjson.OPT_INDENT_2)
    assert raw.startswith(b"[" + first + b"\n,\r\n{\n  \"candidates\": [\n")
    assert raw.endswith(b"\n}\n]") and raw.count(b",\r\n") == 1
    assert orjson.loads(raw)[1]["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("render", [fmt.stream_sse, fmt.stream_array])
def test_stream_ends_with_an_error_element_when_upstream_fails_mid_answer(render):
    events = FakeEvents([TextDelta("par")], fail_with=RateLimited("Kimi is busy", code="resource_exhausted"))
    raw = b"".join(render(events, request()))
    elements = orjson.loads(raw) if render is fmt.stream_array else sse_elements(raw)
    assert elements == [element([{"text": "par"}]),
                        {"error": {"code": 429, "message": "Kimi is busy", "status": "RESOURCE_EXHAUSTED"}}]
    assert events.closed


def test_whole_response_has_thought_part_first_then_text_and_usage():
    gemini = request({"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}, stream=False)
    body = fmt.whole_response(FakeEvents([ThinkingDelta("a"), ThinkingDelta("b"), TextDelta("Answer.")]), gemini)
    assert body == {"candidates": [{"content": {"parts": [{"text": "ab", "thought": True}, {"text": "Answer."}],
                                                "role": "model"}, "finishReason": "STOP", "index": 0}],
                    "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 2, "totalTokenCount": 10,
                                      "thoughtsTokenCount": 1},
                    "modelVersion": "gemini-2.5-flash", "responseId": "5f1c0de05f1c0de05f1c0de05f1c0de0", "conversation_id": "chat-1"}


@pytest.mark.parametrize("deltas, text, finish_reason", [
    (["Hello END world", " more"], "Hello ", "STOP"),
    (["Hello E", "N", "D world"], "Hello ", "STOP"),
    (["Hello", " STOP", "!"], "Hello ", "STOP"),
    (["Hello E", "nd of story"], "Hello End of story", "MAX_TOKENS"),
    (["ends with E"], "ends with E", "MAX_TOKENS"),  # a held tail is sent when the answer ends
])
def test_stop_sequences_cut_the_answer_even_across_deltas(deltas, text, finish_reason):
    events = FakeEvents([TextDelta(d) for d in deltas] + [Finished("length")])
    gemini = request({"generationConfig": {"stopSequences": ["END", "STOP"]}})
    out = sse_elements(b"".join(fmt.stream_sse(stopping(events, gemini), gemini)))
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in out) == text
    assert out[-1]["candidates"][0]["finishReason"] == finish_reason


def test_stop_sequence_ends_the_whole_response_and_stops_reading_upstream():
    events = FakeEvents([TextDelta("one. END"), TextDelta(" two"), Finished("stop")])
    gemini = request({"generationConfig": {"stopSequences": ["END"]}}, stream=False)
    body = fmt.whole_response(stopping(events, gemini), gemini)
    assert body["candidates"][0]["content"]["parts"] == [{"text": "one. "}]
    assert events.consumed == 1 and events.closed


JSON_MODE = {"generationConfig": {"responseMimeType": "application/json", "responseSchema": SCHEMA}}


@pytest.mark.parametrize("answer", ['{"name": "Sari", "age": 30}', '```json\n{"name": "Sari", "age": 30}\n```',
                                    'Here it is:\n```\n{"name": "Sari", "age": 30}\n```'])
def test_json_mode_returns_the_json_without_fences(answer):
    pieces = [answer[:5], answer[5:]]
    body = fmt.whole_response(FakeEvents([TextDelta(p) for p in pieces]), request(JSON_MODE, stream=False))
    assert body["candidates"][0]["content"]["parts"] == [{"text": '{"name": "Sari", "age": 30}'}]
    out = sse_elements(b"".join(fmt.stream_sse(FakeEvents([TextDelta(p) for p in pieces]), request(JSON_MODE))))
    assert out[0] == element([{"text": '{"name": "Sari", "age": 30}'}]) and len(out) == 2


@pytest.mark.parametrize("answer, message", [
    ("Sure! Sari is 30.", "Kimi did not answer with JSON although responseMimeType is application/json."),
    ('{"age": 30}', "Kimi's JSON answer does not match the response schema: $.name is required."),
    ('{"name": "Sari", "age": "30"}',
     "Kimi's JSON answer does not match the response schema: $.age must be of type integer."),
])
def test_json_mode_answer_that_is_not_valid_is_an_error(answer, message):
    with pytest.raises(ProtocolError, match=message.replace("$", r"\$").replace(".", r"\.")) as caught:
        fmt.whole_response(FakeEvents([TextDelta(answer)]), request(JSON_MODE, stream=False))
    assert fmt.error_body(caught.value)["error"] == {"code": 502, "message": message, "status": "INTERNAL"}
    out = sse_elements(b"".join(fmt.stream_sse(FakeEvents([TextDelta(answer)]), request(JSON_MODE))))
    assert out == [{"error": {"code": 502, "message": message, "status": "INTERNAL"}}]


@pytest.mark.parametrize("value, schema, problem", [
    ({"a": [1, 2]}, {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}, None),
    ({"a": [1, 2.5]}, {"type": "OBJECT", "properties": {"a": {"type": "ARRAY", "items": {"type": "INTEGER"}}}},
     "$.a[1] must be of type integer"),
    (True, {"type": "number"}, "$ must be of type number"),
    (3.0, {"type": "integer"}, None),
    (None, {"type": "string", "nullable": True}, None),
    (None, {"type": ["string", "null"]}, None),
    ("red", {"type": "string", "enum": ["green", "blue"]}, "$ must be one of ['green', 'blue']"),
    ({"x": 1}, {"anyOf": [{"type": "string"}, {"type": "object", "required": ["x"]}]}, None),
    (5, {"anyOf": [{"type": "string"}, {"type": "boolean"}]}, "$ matches none of the allowed schemas"),
    ({"x": 1}, {"type": "object", "$ref": "#/$defs/Thing", "minProperties": 3}, None),
])
def test_json_schema_subset(value, schema, problem):
    assert json_schema.find_violation(value, schema) == problem


@pytest.mark.parametrize("err, status", [
    (BadRequest("x"), "INVALID_ARGUMENT"), (AuthRejected("x"), "UNAUTHENTICATED"),
    (PaymentRequired("x"), "PERMISSION_DENIED"), (PermissionDenied("x"), "PERMISSION_DENIED"),
    (NotFound("x"), "NOT_FOUND"), (PayloadTooLarge("x"), "INVALID_ARGUMENT"),
    (RateLimited("x"), "RESOURCE_EXHAUSTED"), (KimiError("x"), "INTERNAL"),
    (UpstreamUnavailable("x"), "UNAVAILABLE"), (ProtocolError("x"), "INTERNAL"),
    (UpstreamTimeout("x"), "DEADLINE_EXCEEDED"),
])
def test_error_body_uses_googles_status_names(err, status):
    assert fmt.error_body(err) == {"error": {"code": err.status, "message": "x", "status": status}}


def test_count_tokens_covers_system_contents_and_tools():
    tools = [{"functionDeclarations": [{"name": "ls", "description": "list files"}]}]
    body = {"systemInstruction": {"parts": [{"text": "Be brief."}]}, **USER, "tools": tools}
    expected = estimate_tokens("Be brief.\n\nhi\n\n" + orjson.dumps(tools).decode())
    assert fmt.count_tokens(body) == {"totalTokens": expected}
    assert fmt.count_tokens({"generateContentRequest": {"model": "models/m", **body}}) == {"totalTokens": expected}


def test_stream_sends_each_function_call_in_an_element_of_its_own():
    events = FakeEvents([TextDelta("On it."), ToolCall("call_1", "ls", '{"dir": "."}'), Finished("tool_calls")])
    out = sse_elements(b"".join(fmt.stream_sse(events, request())))
    assert out[:2] == [element([{"text": "On it."}]),
                       element([{"functionCall": {"id": "call_1", "name": "ls", "args": {"dir": "."}}}])]
    assert out[2]["candidates"][0]["finishReason"] == "STOP" and len(out) == 3


def test_whole_response_puts_function_calls_after_the_text_and_drops_an_empty_text():
    events = FakeEvents([ToolCall("call_1", "ls", "{}"), ToolCall("call_2", "cat", '{"path": "a"}')])
    body = fmt.whole_response(events, request(stream=False))
    assert body["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "call_1", "name": "ls", "args": {}}},
        {"functionCall": {"id": "call_2", "name": "cat", "args": {"path": "a"}}}]


def test_sources_become_grounding_chunks_on_the_last_element():
    sources = Citations((Source("1", "https://a.example/x", "Alpha"), Source("2", "https://b.example/y")))
    out = sse_elements(b"".join(fmt.stream_sse(FakeEvents([sources, TextDelta("Hi"), Finished()]), request())))
    assert out[0] == element([{"text": "Hi"}])
    assert out[1]["candidates"][0]["groundingMetadata"] == {"groundingChunks": [
        {"web": {"uri": "https://a.example/x", "title": "Alpha"}},
        {"web": {"uri": "https://b.example/y", "title": "https://b.example/y"}}]}


@pytest.mark.parametrize("render", [fmt.stream_sse, fmt.stream_array])
def test_a_crash_while_streaming_is_logged_once_and_ends_with_an_internal_error(render, caplog):
    events = FakeEvents([TextDelta("par")], fail_with=RuntimeError("boom"))
    raw = b"".join(render(events, request()))
    elements = orjson.loads(raw) if render is fmt.stream_array else sse_elements(raw)
    assert elements[-1] == {"error": {"code": 500, "message": STREAM_FAILURE.message, "status": "INTERNAL"}}
    assert [(r.levelname, r.exc_info[1].args) for r in caplog.records] == [("ERROR", ("boom",))]
    assert events.closed


@pytest.mark.parametrize("stream", [False, True])
def test_json_mode_answer_of_calls_only_is_not_checked_as_json(stream):
    events = FakeEvents([ToolCall("call_1", "ls", "{}"), Finished("tool_calls")])
    if stream:
        elements = sse_elements(b"".join(fmt.stream_sse(events, request(JSON_MODE))))
    else:
        elements = [fmt.whole_response(events, request(JSON_MODE, stream=False))]
    assert elements[0]["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "call_1", "name": "ls", "args": {}}}]
